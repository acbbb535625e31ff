"""tools/finetune_diffusion.py, as users run it, on a tiny random Stable
Diffusion folder saved as theirs are: a resumed run equals an
uninterrupted one, two processes (torchrun or accelerate launch, gloo)
learn what one learns from the same data, a hub id offline is one clear
error, and the adapted generator runs in the hook end to end
(classification; box-preserving detection on images of mixed sizes, grey
and RGBA files)."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import REPO, free_port, train_cli
from mmengine.config import Config

from mmtada.utils import RunLayout

pytestmark = pytest.mark.slow

TOOL = osp.join(REPO, 'tools', 'finetune_diffusion.py')
FAST = ['--batch-size', '4', '--lr', '1e-3', '--token-lr', '1e-2']


def finetune(cfg_path, work, weights, *args, nproc=1, check=True,
             launcher='torchrun', **env):
    cmd = [sys.executable, TOOL, str(cfg_path), '--weights', str(weights),
           '--work-dir', str(work), *args]
    if nproc > 1 and launcher == 'torchrun':
        cmd = [sys.executable, '-m', 'torch.distributed.run',
               f'--nproc_per_node={nproc}', f'--master_port={free_port()}',
               *cmd[1:]]
    elif nproc > 1:  # accelerate's own launcher, as its users type it
        cmd = [sys.executable, '-m', 'accelerate.commands.launch',
               '--multi_gpu', f'--num_processes={nproc}',
               '--num_machines=1', '--mixed_precision=no',
               '--dynamo_backend=no', f'--main_process_port={free_port()}',
               *cmd[1:]]
    out = subprocess.run(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO, **env))
    if check:
        assert out.returncode == 0, out.stdout[-4000:]
    return out.stdout


def trained(work):
    return torch.load(osp.join(work, 'train_state.pth'),
                      weights_only=True)['trained']


def dump(cfg, path):
    cfg.dump(str(path))
    return str(path)


def test_resume_and_two_processes_learn_what_one_uninterrupted_does(
        tmp_path, cls_cfg, latent_weights):
    cfg = dump(cls_cfg(num_samples=24), tmp_path / 'cfg.py')
    one = tmp_path / 'one'
    log = finetune(cfg, one, latent_weights, '--method', 'both',
                   '--steps', '4', *FAST)
    assert '24 images, 10 classes, 32px, both' in log
    cut = tmp_path / 'cut'
    finetune(cfg, cut, latent_weights, '--method', 'both', '--steps', '2',
             *FAST)
    log = finetune(cfg, cut, latent_weights, '--method', 'both', '--steps',
                   '4', '--resume', *FAST)
    assert 'resumed from step 2' in log
    two = tmp_path / 'two'
    finetune(cfg, two, latent_weights, '--method', 'both', '--steps', '4',
             *FAST, nproc=2)
    acc = tmp_path / 'accelerate'
    finetune(cfg, acc, latent_weights, '--method', 'both', '--steps', '4',
             *FAST, nproc=2, launcher='accelerate')
    a, b, c, d = trained(one), trained(cut), trained(two), trained(acc)
    assert a.keys() == b.keys() == c.keys() == d.keys() and 'tokens' in a
    assert any(k.startswith('unet.') and 'lora' in k for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key  # resumed: bit for bit
        torch.testing.assert_close(c[key], a[key], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(d[key], a[key], rtol=1e-4, atol=1e-6)
    for run in (two, acc):
        record = json.load(open(run / 'finetuning.json'))
        assert record['steps_done'] == 4 and record['ranks'] == 2
    adapter = json.load(open(one / 'adapter' / 'adapter.json'))
    assert adapter['method'] == 'both' and len(adapter['tokens']) == 10
    assert osp.exists(one / 'adapter' / adapter['lora'])

    out = finetune(cfg, tmp_path / 'odd', latent_weights, '--steps', '1',
                   '--batch-size', '3', nproc=2, check=False)
    assert 'does not split over 2 ranks' in out
    # a time budget: rank 0's clock stops both ranks, at the same step
    timed = tmp_path / 'timed'
    finetune(cfg, timed, latent_weights, '--steps', '100000', '--minutes',
             '0.001', *FAST, nproc=2)
    record = json.load(open(timed / 'finetuning.json'))
    assert 1 <= record['steps_done'] < 100000
    assert osp.exists(timed / 'adapter' / 'adapter.json')


def test_a_hub_id_offline_is_one_clear_error(tmp_path, cls_cfg):
    cfg = dump(cls_cfg(num_samples=8), tmp_path / 'cfg.py')
    out = finetune(cfg, tmp_path / 'w', 'nobody/no-such-model', check=False,
                   HF_HUB_OFFLINE='1')
    assert 'HF_HUB_OFFLINE is set' in out
    assert 'huggingface-cli download nobody/no-such-model' in out


def train_with_one_variant_each(cfg, work):
    """Train ``cfg`` (one variant per selected sample); the generator
    settings that key its variant cache."""
    train_cli(cfg, work)
    layout = RunLayout(str(work))
    selected = json.load(open(layout.selection))['indices']
    made = json.load(open(layout.generation))
    assert selected and made['generated'] == len(selected)
    [path] = glob.glob(osp.join(layout.variants, '*', 'settings.json'))
    return json.load(open(path))['settings']['generator']


def test_the_adapted_generator_in_a_classification_run(
        tmp_path, cls_cfg, latent_weights):
    cfg = cls_cfg(num_samples=48, num_slots=16, max_epochs=2,
                  select_epoch=1, num_variants=1)
    path = dump(cfg, tmp_path / 'cfg.py')
    tuned = tmp_path / 'tuned'
    finetune(path, tuned, latent_weights, '--method', 'both', '--steps',
             '3', *FAST)
    adapter = str(tuned / 'adapter')
    cfg.custom_hooks[0].generator = dict(
        type='mmtada.LatentSDEdit', weights=latent_weights,
        lora=dict(path=adapter, scale=0.8), tokens=adapter,
        num_inference_steps=4)
    work = tmp_path / 'work'
    settings = train_with_one_variant_each(cfg, work)
    assert settings['lora']['scale'] == 0.8 and settings['tokens']
    assert settings['prompt'] == 'a photo of a {}'
    # then pick the strength for the adapted model, judged by that run
    quality = tmp_path / 'quality'
    out = subprocess.run(
        [sys.executable, 'tools/variant_quality.py', path, '--weights',
         latent_weights, '--generator', 'LatentSDEdit', '--lora', adapter,
         '--tokens', adapter, '--checkpoint', str(work / 'epoch_2.pth'),
         '--strengths', '0.3,0.6', '--sources', '8', '--variants', '1',
         '--steps', '4', '--out', str(quality)], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO))
    assert out.returncode == 0, out.stdout[-3000:]
    caches = glob.glob(osp.join(quality, 'cache', '*', 'settings.json'))
    assert len(caches) == 2 and all(  # a cache per strength, adapted
        json.load(open(c))['settings']['generator']['tokens']
        for c in caches)


def test_the_adapted_generator_in_a_box_preserving_detection_run(
        tmp_path, mixed_coco, latent_weights, monkeypatch):
    from test_tools_detection import shrink
    monkeypatch.setenv('DATA_ROOT', mixed_coco)
    base = osp.join(REPO, 'configs', 'tada_retinanet_r50_fpn_1x_coco.py')
    cfg = shrink(Config.fromfile(base), mixed_coco)
    path = dump(cfg, tmp_path / 'cfg.py')
    tuned = tmp_path / 'tuned'
    log = finetune(path, tuned, latent_weights, '--method', 'tokens',
                   '--steps', '2', *FAST)
    assert '8 images, 3 classes' in log
    prompts = json.load(open(tuned / 'adapter' / 'prompts.json'))
    assert prompts['tokens'] == ['<red>', '<green>', '<blue>']
    adapter = str(tuned / 'adapter')
    cfg = shrink(Config.fromfile(base), mixed_coco, dict(
        type='mmtada.BoxPreservingSDEdit', generator=dict(
            type='mmtada.LatentSDEdit', weights=latent_weights,
            tokens=adapter, num_inference_steps=4)))
    cfg.model.test_cfg.score_thr = 0.0
    settings = train_with_one_variant_each(cfg, tmp_path / 'work')
    assert settings['generator']['tokens']
