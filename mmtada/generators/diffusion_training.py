"""Training a small pixel diffusion model for PixelSDEdit on a dataset's own
images (what ``tools/train_diffusion.py`` runs).

SDEdit at strength s starts denoising at t0 = s * T and never sees a
noisier image, so the model is trained only where it is used:
``max_strength`` draws the training timesteps from [0, ceil(s * T)).
The loss is the MSE to the prediction target (``'epsilon'`` or
``'v_prediction'``, as diffusers' schedulers name them), optionally
weighted by Min-SNR-gamma (Hang et al., 2023): ``min(SNR, gamma) / SNR``
for epsilon, ``min(SNR, gamma) / (SNR + 1)`` for v.
"""
import contextlib
import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .image_io import letterbox, to_model

PREDICTIONS = ('epsilon', 'v_prediction')


def valid_resolution(size: int, num_levels: int, cap: int = 64) -> int:
    """``size`` rounded up to a multiple of ``2 ** (num_levels - 1)`` (what a
    UNet of ``num_levels`` resolutions halves to), at most ``cap`` rounded
    down to such a multiple."""
    step = 2**(num_levels - 1)
    up = -(-int(size) // step) * step
    return max(step, min(up, cap // step * step))


def check_resolution(resolution: int, num_levels: int) -> None:
    step = 2**(num_levels - 1)
    if resolution % step:
        raise ValueError(
            f'--resolution {resolution} is not a multiple of {step}: a UNet '
            f'with {num_levels} block widths halves the image '
            f'{num_levels - 1} times; use '
            f'{valid_resolution(resolution, num_levels, 10**6)} (or fewer '
            '--channels).')


def build_unet(resolution: int, channels: Sequence[int],
               num_classes: Optional[int], in_channels: int = 3):
    """A diffusers ``UNet2DModel`` with attention in its last two levels;
    class-conditional when ``num_classes`` is given."""
    from diffusers import UNet2DModel
    check_resolution(resolution, len(channels))
    n = len(channels)
    down = ['DownBlock2D'] * (n - 2) + ['AttnDownBlock2D'] * min(2, n - 1)
    down = (['DownBlock2D'] + down)[-n:]
    up = [b.replace('Down', 'Up') for b in reversed(down)]
    return UNet2DModel(
        sample_size=resolution, in_channels=in_channels,
        out_channels=in_channels, block_out_channels=tuple(channels),
        layers_per_block=2, down_block_types=tuple(down),
        up_block_types=tuple(up), num_class_embeds=num_classes,
        dropout=0.1, norm_num_groups=math.gcd(32, *channels))


def pretrained_unet(folder: str, resolution: Optional[int],
                    num_classes: Optional[int], grayscale: bool):
    """A pretrained ``UNet2DModel`` (a ``DDPMPipeline`` folder or a UNet
    folder) to fine-tune on a dataset, and its scheduler's config (or
    None). A classification set (``num_classes``) gets a class embedding
    when the model has none, zero at the start, so that the model starts
    as it was. One clear error when it does not fit: another resolution,
    one channel for colour data, a class count or conditioning that is not
    the dataset's."""
    import os.path as osp

    import torch.nn as nn
    from diffusers import UNet2DModel
    sub = 'unet' if osp.isdir(osp.join(folder, 'unet')) else None
    unet = UNet2DModel.from_pretrained(folder, subfolder=sub)
    conf = unet.config
    fix = ('fine-tune another model, or train one from scratch (no '
           '--init-from)')
    if resolution is not None and int(resolution) != int(conf.sample_size):
        raise ValueError(
            f'--resolution {resolution} does not fit {folder}, a '
            f'{conf.sample_size}px model: leave --resolution out (the '
            f'images are letterboxed to {conf.sample_size}px), or {fix}.')
    if conf.in_channels == 1 and not grayscale:
        raise ValueError(f'{folder} is a one-channel model and the data are '
                         f'in colour: {fix}.')
    if num_classes is None and conf.num_class_embeds is not None:
        raise ValueError(
            f'{folder} is class-conditional ({conf.num_class_embeds} '
            'classes); detection images are learned unconditionally: '
            f'{fix}.')
    if num_classes is not None and conf.num_class_embeds not in (
            None, num_classes):
        raise ValueError(
            f'{folder} is conditioned on {conf.num_class_embeds} classes, '
            f'the dataset has {num_classes}: {fix}.')
    if num_classes is not None and conf.num_class_embeds is None:
        width = unet.time_embedding.linear_2.out_features
        unet.class_embedding = nn.Embedding(num_classes, width)
        nn.init.zeros_(unet.class_embedding.weight)
        unet.register_to_config(num_class_embeds=num_classes)
    sched = osp.join(folder, 'scheduler', 'scheduler_config.json')
    scheduler = None
    if osp.exists(sched):
        from diffusers import DDPMScheduler
        scheduler = DDPMScheduler.from_pretrained(folder,
                                                  subfolder='scheduler')
    return unet, scheduler


def is_grayscale(reader, num: int = 64) -> bool:
    """Whether the dataset's images are grey: every channel equal in ``num``
    images spread over it."""
    idx = np.linspace(0, len(reader) - 1, min(num, len(reader))).astype(int)
    for i in idx:
        img = reader.source_image(int(i))
        if not (np.array_equal(img[..., 0], img[..., 1])
                and np.array_equal(img[..., 0], img[..., 2])):
            return False
    return True


class TrainImages(torch.utils.data.Dataset):
    """(image in [-1, 1] at the model resolution, label) of each base
    training sample of a :class:`~mmtada.datasets.SampleReader`, flipped
    at random; one channel when ``grayscale``; detection images are
    letterboxed (as BoxPreservingSDEdit shows them) and get label -1
    (unconditional). Non-square classification images are letterboxed
    too, never squashed."""

    def __init__(self, reader, resolution: int, grayscale: bool = False):
        self.reader = reader
        self.resolution = resolution
        self.grayscale = grayscale
        self.detection = reader.is_detection
        self.labels = None if self.detection else reader.gt_labels()

    def __len__(self):
        return len(self.reader)

    def __getitem__(self, i):
        img = self.reader.source_image(i)
        if self.detection or img.shape[0] != img.shape[1]:
            img = letterbox(img, self.resolution)[0]
        x = to_model([img], self.resolution, 'cpu', torch.float32)[0]
        if self.grayscale:
            x = x[:1]
        if np.random.random() < 0.5:
            x = x.flip(-1)
        return x, -1 if self.detection else int(self.labels[i])


def sample_timesteps(batch: int, num_train_timesteps: int,
                     max_strength: float = 1.0,
                     device='cpu') -> torch.Tensor:
    """Uniform training timesteps in [0, ceil(max_strength * T))."""
    if not 0 < max_strength <= 1:
        raise ValueError(
            f'max_strength must be in (0, 1], got {max_strength}.')
    high = max(1, math.ceil(max_strength * num_train_timesteps))
    return torch.randint(0, high, (batch, ), device=device)


def diffusion_loss(unet, x0: torch.Tensor, t: torch.Tensor,
                   noise: torch.Tensor, alphas_cumprod: torch.Tensor,
                   labels: Optional[torch.Tensor] = None,
                   prediction: str = 'epsilon',
                   min_snr_gamma: Optional[float] = None,
                   autocast_dtype: Optional[torch.dtype] = None
                   ) -> torch.Tensor:
    """The (weighted) MSE of the UNet's prediction at timesteps ``t``.

    ``autocast_dtype`` runs the forward under autocast on the inputs'
    device (e.g. bf16 on a CPU with native bf16); the loss is fp32.
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f'prediction must be one of {PREDICTIONS}, got '
                         f'{prediction!r}.')
    a = alphas_cumprod[t].view(-1, 1, 1, 1)
    noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
    target = noise if prediction == 'epsilon' else \
        a.sqrt() * noise - (1 - a).sqrt() * x0
    ctx = torch.autocast(x0.device.type, autocast_dtype) \
        if autocast_dtype is not None else contextlib.nullcontext()
    with ctx:
        pred = unet(noisy, t, class_labels=labels).sample
    err = F.mse_loss(pred.float(), target, reduction='none').mean((1, 2, 3))
    if min_snr_gamma is None:
        return err.mean()
    snr = a.view(-1) / (1 - a.view(-1))
    weight = snr.clamp(max=min_snr_gamma) / (
        snr if prediction == 'epsilon' else snr + 1)
    return (weight * err).mean()
