"""What tools/train_diffusion.py trains with, on crafted inputs."""

import numpy as np
import pytest
import torch

from mmtada.datasets import Digits, SampleReader
from mmtada.generators import PixelSDEdit
from mmtada.generators.diffusion_training import (TrainImages, build_unet,
                                                  check_resolution,
                                                  diffusion_loss,
                                                  is_grayscale,
                                                  pretrained_unet,
                                                  sample_timesteps,
                                                  valid_resolution)


def alphas():
    from diffusers import DDPMScheduler
    return DDPMScheduler(num_train_timesteps=1000).alphas_cumprod


def test_max_strength_never_draws_noise_levels_above_it():
    torch.manual_seed(0)
    t = sample_timesteps(20000, 1000, 0.35)
    assert t.max() == 349 and t.min() == 0  # t < ceil(0.35 T), all reached
    assert sample_timesteps(5000, 1000).max() == 999
    with pytest.raises(ValueError, match=r'max_strength must be in \(0, 1\]'):
        sample_timesteps(4, 1000, 0)


class Constant(torch.nn.Module):
    """A 'UNet' that predicts a fixed tensor, to check the loss by hand."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x, t, class_labels=None):
        return type('Out', (), dict(sample=self.out.expand_as(x)))()


def test_targets_and_min_snr_weights_are_the_published_ones():
    a = alphas()
    x0 = torch.full((2, 3, 4, 4), 0.5)
    noise = torch.full((2, 3, 4, 4), -1.0)
    t = torch.tensor([10, 900])
    zero = Constant(torch.zeros(1))
    eps = diffusion_loss(zero, x0, t, noise, a)
    assert eps.item() == pytest.approx(1.0)  # E[(0 - (-1))^2]
    ab = a[t]
    v = ab.sqrt() * -1.0 - (1 - ab).sqrt() * 0.5
    got = diffusion_loss(zero, x0, t, noise, a, prediction='v_prediction')
    assert got.item() == pytest.approx((v**2).mean().item(), rel=1e-5)
    snr = ab / (1 - ab)
    w = snr.clamp(max=5.0) / snr
    got = diffusion_loss(zero, x0, t, noise, a, min_snr_gamma=5.0)
    assert got.item() == pytest.approx(w.mean().item(), rel=1e-5)
    assert w[0] < 0.05 and w[1] == 1  # low noise down-weighted
    wv = snr.clamp(max=5.0) / (snr + 1)
    got = diffusion_loss(zero, x0, t, noise, a, prediction='v_prediction',
                         min_snr_gamma=5.0)
    assert got.item() == pytest.approx((wv * v**2).mean().item(), rel=1e-5)


def test_bf16_autocast_gives_the_fp32_loss_within_tolerance():
    torch.manual_seed(0)
    unet = build_unet(16, [16, 32], 10)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(8, 3, 16, 16, generator=g) * 2 - 1
    noise = torch.randn(8, 3, 16, 16, generator=g)
    t = torch.randint(0, 1000, (8, ), generator=g)
    y = torch.randint(0, 10, (8, ), generator=g)
    fp32 = diffusion_loss(unet, x0, t, noise, alphas(), labels=y)
    bf16 = diffusion_loss(unet, x0, t, noise, alphas(), labels=y,
                          autocast_dtype=torch.bfloat16)
    assert bf16.dtype == torch.float32
    assert abs(bf16.item() - fp32.item()) < 0.01 * fp32.item()


def test_resolution_rounds_up_to_what_the_unet_halves_to():
    assert valid_resolution(30, 3) == 32 and valid_resolution(375, 3) == 64
    assert valid_resolution(16, 2) == 16 and valid_resolution(17, 2) == 18
    check_resolution(32, 3)
    with pytest.raises(ValueError, match='not a multiple of 4.*use 32'):
        check_resolution(30, 3)


def test_grey_data_train_and_edit_on_one_channel(tmp_path):
    from diffusers import DDPMPipeline, DDPMScheduler
    reader = SampleReader(Digits(split='train', indices=40, pipeline=[]))
    assert is_grayscale(reader)
    images = TrainImages(reader, 16, grayscale=True)
    x, label = images[3]
    assert x.shape == (1, 16, 16) and label == int(reader.gt_labels()[3])
    torch.manual_seed(0)
    unet = build_unet(16, [16, 32], 10, in_channels=1)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(
        num_train_timesteps=1000)).save_pretrained(str(tmp_path))
    gen = PixelSDEdit(str(tmp_path), strength=0.5, num_inference_steps=4)
    src = [reader.source_image(i) for i in range(3)]
    out = gen.generate(src, [reader.source_annotation(i) for i in range(3)],
                       [0, 1, 2])
    for o, s in zip(out, src):  # grey in, grey out: equal channels
        assert o.shape == s.shape
        assert np.array_equal(o[..., 0], o[..., 1])
        assert np.array_equal(o[..., 0], o[..., 2])
        assert not np.array_equal(o, s)
    colour = np.random.RandomState(0).randint(0, 255, (16, 16, 3), np.uint8)
    assert not is_grayscale(type('R', (), dict(
        __len__=lambda self: 1, source_image=lambda self, i: colour))())


def test_a_pretrained_unconditional_model_gets_a_class_embedding_at_zero(
        tmp_path):
    """Fine-tuning starts from the pretrained model: with its new class
    embedding (zero) it predicts what it predicted unconditionally."""
    from diffusers import UNet2DModel

    from mmtada.testing import save_tiny_pixel_model
    folder = save_tiny_pixel_model(str(tmp_path / 'm'), num_classes=0)
    before = UNet2DModel.from_pretrained(folder, subfolder='unet').eval()
    unet, scheduler = pretrained_unet(folder, None, 10, False)
    assert unet.config.num_class_embeds == 10
    assert scheduler.config.num_train_timesteps == 1000
    x, t = torch.randn(3, 3, 16, 16), torch.tensor([10, 500, 900])
    with torch.no_grad():
        torch.testing.assert_close(
            unet.eval()(x, t, class_labels=torch.tensor([0, 4, 9])).sample,
            before(x, t).sample)
    unet.save_pretrained(str(tmp_path / 'saved'))  # loads as conditional
    again = UNet2DModel.from_pretrained(str(tmp_path / 'saved'))
    assert again.class_embedding.num_embeddings == 10
    unconditional, _ = pretrained_unet(folder, 16, None, True)  # detection
    assert unconditional.class_embedding is None


def test_a_pretrained_model_that_does_not_fit_is_one_clear_error(tmp_path):
    from mmtada.testing import save_tiny_pixel_model
    cond = save_tiny_pixel_model(str(tmp_path / 'c'), num_classes=10)
    with pytest.raises(ValueError, match='--resolution 32 does not fit.*'
                       '16px model: leave --resolution out'):
        pretrained_unet(cond, 32, 10, False)
    with pytest.raises(ValueError, match='conditioned on 10 classes, the '
                       'dataset has 3'):
        pretrained_unet(cond, None, 3, False)
    with pytest.raises(ValueError, match='class-conditional.*detection'):
        pretrained_unet(cond, None, None, False)
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
    grey = UNet2DModel(sample_size=16, in_channels=1, out_channels=1,
                       block_out_channels=(16, 32), layers_per_block=1,
                       norm_num_groups=8,
                       down_block_types=('DownBlock2D', 'DownBlock2D'),
                       up_block_types=('UpBlock2D', 'UpBlock2D'))
    DDPMPipeline(unet=grey, scheduler=DDPMScheduler()).save_pretrained(
        str(tmp_path / 'g'))
    with pytest.raises(ValueError, match='one-channel model and the data '
                       'are in colour'):
        pretrained_unet(str(tmp_path / 'g'), None, 10, False)
    assert pretrained_unet(str(tmp_path / 'g'), None, 10,
                           True)[0].config.in_channels == 1
