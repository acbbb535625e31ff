"""The CUDA, fp16 and bf16 paths: the SDEdit generators on the GPU in half
precision, and LearningLagHook's recording under mixed precision (AMP).

Marked ``gpu`` and skipped without CUDA; ``tools/benchmark/gpu_check.sh``
runs them (``pytest -m gpu``) on a lent GPU. Built on the tiny random-weight
models of :mod:`mmtada.testing` (the ``pixel_weights`` / ``latent_weights``
fixtures). ``MMTADA_GPU_TEST_DEVICE=cpu`` runs their logic on the CPU
(``-k bf16``: the half precision the CPU has; AMP training needs CUDA).
"""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmtada.generators import LatentSDEdit, PixelSDEdit
from mmtada.generators.sdedit_generator import DTYPES

DEVICE = os.environ.get('MMTADA_GPU_TEST_DEVICE', 'cuda')
ON_CUDA = DEVICE == 'cuda'
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(ON_CUDA and not torch.cuda.is_available(),
                       reason='needs a CUDA device')
]
HALF = ['fp16', 'bf16']


def images(n, shape=(24, 20, 3), seed=0):
    return [np.random.RandomState(seed + i).randint(0, 256, shape,
                                                     dtype=np.uint8)
            for i in range(n)]


def watch_finite(*modules):
    """Hooks recording, per forward of each module, whether its output was
    finite (NaN/inf in half precision would not show in uint8 images)."""
    seen = []

    def hook(module, args, out):
        out = getattr(out, 'sample', out)
        seen.append(bool(torch.isfinite(out).all()))
    handles = [m.register_forward_hook(hook) for m in modules]
    return seen, handles


def check_variants(gen, src, ann, modules):
    seeds = list(range(len(src)))
    seen, handles = watch_finite(*modules)
    a = gen.generate(src, ann, seeds)
    b = gen.generate(src, ann, seeds)
    c = gen.generate(src, ann, [s + 1000 for s in seeds])
    for h in handles:
        h.remove()
    assert seen and all(seen), 'non-finite model outputs'
    assert [x.shape for x in a] == [s.shape for s in src]
    assert all(x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), \
        'the same seeds gave different images'
    assert not any(np.array_equal(x, y) for x, y in zip(a, c))
    assert not any(np.array_equal(x, s) for x, s in zip(a, src))
    return a


@pytest.mark.parametrize('dtype', HALF)
def test_pixel_sdedit_in_half_precision(pixel_weights, dtype):
    gen = PixelSDEdit(pixel_weights, strength=0.6, num_inference_steps=10,
                      device=DEVICE, dtype=dtype)
    param = next(gen.unet.parameters())
    assert (param.device.type, param.dtype) == (DEVICE, DTYPES[dtype])
    src = images(6)
    ann = [dict(gt_label=i % 10) for i in range(6)]
    a = check_variants(gen, src, ann, [gen.unet])
    # a variant depends on its seed, not on the batch it was made in
    # (another batch size may pick other kernels: within rounding)
    part = gen.generate(src[3:], ann[3:], [3, 4, 5])
    diff = np.abs(np.stack(part).astype(int) - np.stack(a[3:]))
    assert diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())


@pytest.mark.parametrize('dtype', HALF)
def test_pixel_sdedit_keeps_masked_regions_exactly(pixel_weights, dtype):
    gen = PixelSDEdit(pixel_weights, strength=0.8, strength_inside=0.0,
                      num_inference_steps=10, device=DEVICE, dtype=dtype)
    src = images(2, (20, 28, 3))
    mask = np.zeros((20, 28), np.uint8)
    mask[4:12, 6:18] = 1
    out = gen.generate(src, [dict(gt_label=1, mask=mask)] * 2, [0, 1])
    for o, s in zip(out, src):
        assert np.array_equal(o[mask > 0], s[mask > 0])
        assert not np.array_equal(o[mask == 0], s[mask == 0])


@pytest.mark.parametrize('guidance', [7.5, 1.0])
@pytest.mark.parametrize('dtype', HALF)
def test_latent_sdedit_in_half_precision(latent_weights, dtype, guidance):
    gen = LatentSDEdit(latent_weights, guidance_scale=guidance,
                       strength=0.6, num_inference_steps=10, device=DEVICE,
                       dtype=dtype)
    for module in (gen.unet, gen.vae, gen.text_encoder):
        param = next(module.parameters())
        assert (param.device.type, param.dtype) == (DEVICE, DTYPES[dtype])
    src = images(4, (40, 36, 3))
    ann = [dict(gt_label=i % 2, class_name=('cat', 'dog')[i % 2])
           for i in range(4)]
    check_variants(gen, src, ann, [gen.unet, gen.vae.decoder])


def test_auto_picks_fp16_on_cuda(pixel_weights):
    if not ON_CUDA:
        pytest.skip('the CUDA default')
    gen = PixelSDEdit(pixel_weights)
    assert (gen.device.type, gen.dtype) == ('cuda', torch.float16)


def samples(labels):
    from mmpretrain.structures import DataSample
    out = []
    for i, label in enumerate(labels):
        s = DataSample().set_gt_label(label)
        s.set_metainfo(dict(sample_idx=i, source_idx=i, is_synthetic=False))
        out.append(s)
    return out


@pytest.mark.parametrize('dtype', HALF)
def test_head_recorder_under_autocast_records_fp32(dtype):
    from mmtada.engine import HeadRecorder
    from mmtada.selection import LagStats
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 5).to(DEVICE)
    recorder = HeadRecorder(head, 'head')
    stats = LagStats(8, 5)
    x = torch.randn(6, 16, device=DEVICE)
    labels = [0, 1, 2, 3, 4, 0]
    head.train()
    with torch.autocast(DEVICE, dtype=DTYPES[dtype]):
        logits = head(x)
    assert logits.dtype == DTYPES[dtype]
    recorder.consume(samples(labels), stats)
    assert all(v.dtype == torch.float32 and v.device.type == DEVICE
               for v in stats._acc.values())
    stats.end_epoch(1)
    assert stats.loss.dtype == torch.float32 and stats.probs.dtype == \
        torch.float32
    expected = F.cross_entropy(logits.float(), torch.tensor(
        labels, device=DEVICE), reduction='none').cpu()
    assert torch.allclose(stats.loss[0, :6], expected, rtol=1e-5, atol=1e-6)
    assert torch.isnan(stats.loss[0, 6:]).all()


def test_amp_training_records_and_selects(cls_cfg):
    """The tiny classifier trained with AmpOptimWrapper on CUDA: the hook
    records fp32 statistics of every sample and selects at epoch 1."""
    if not ON_CUDA:
        pytest.skip('AmpOptimWrapper needs CUDA')
    from mmtada.apis import train
    from mmtada.engine.hooks import LearningLagHook
    cfg = cls_cfg(max_epochs=2, select_epoch=1)
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'
    runner = train(cfg)
    assert next(runner.model.parameters()).device.type == 'cuda'
    hook = [h for h in runner.hooks if isinstance(h, LearningLagHook)][0]
    stats = hook.state.stats
    assert stats.loss.dtype == torch.float32
    assert stats.num_epochs >= 1 and torch.isfinite(stats.loss[0]).all()
    assert stats.nonfinite == [0] * stats.num_epochs
    assert 0 < len(hook.state.selection.indices) < 96


@pytest.mark.parametrize('dtype', HALF)
def test_the_adaptation_step_under_autocast(latent_weights, dtype):
    """tools/finetune_diffusion.py's step with LoRA and tokens under
    half-precision autocast (fp16 with loss scaling): finite losses that
    go down on a fixed batch, trained values in fp32."""
    from mmtada.generators.latent_finetuning import (Batch, LatentFinetuner,
                                                     sample_view, train_step)
    torch.manual_seed(0)
    tuner = LatentFinetuner(latent_weights, ['cat', 'dog'], 'both',
                            device=DEVICE)
    half = DTYPES[dtype]
    opt = torch.optim.AdamW(tuner.param_groups(1e-2, 5e-2))
    scaler = torch.amp.GradScaler(tuner.device.type,
                                  enabled=half == torch.float16)
    x = torch.stack([sample_view(img, tuner.resolution, False, False)
                     for img in images(4, (32, 32, 3))])
    prompts = [tuner.prompts(dict(gt_label=i % 2)) for i in range(4)]
    losses = []
    for _ in range(12):
        gens = [torch.Generator().manual_seed(i) for i in range(4)]
        losses.append(train_step(tuner, opt, scaler,
                                 Batch(x, prompts, gens), 4, half).item())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert all(p.dtype == torch.float32 for p in tuner.trainable())
