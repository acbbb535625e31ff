"""What the pixel and latent SDEdit generators share."""
from typing import List, Optional

import numpy as np
import torch

from .base_generator import BaseGenerator

SCHEDULERS = ('ddim', 'ddpm')
DTYPES = dict(fp32=torch.float32, fp16=torch.float16, bf16=torch.bfloat16)


class SDEditGenerator(BaseGenerator):
    """Strengths, scheduler, steps, device and dtype of an SDEdit generator.

    An annotation's ``strength`` / ``strength_inside`` (a strength
    ladder's step) replaces the generator's for that image. Images are
    edited in groups of equal strengths, one :meth:`edit` call each, so an
    image is the same whatever it is batched with: the one it would be
    made alone at its strength with its seed.

    The defaults are each generator's (see its own docstring).

    Args:
        strength (float): in [0, 1]; t0 = strength * T.
        strength_inside (float, optional): strength inside annotation
            masks (0 keeps that region exactly); None ignores masks.
        num_inference_steps (int): steps of the full schedule (strength 1).
        scheduler (str): ``'ddim'`` (deterministic given the start noise)
            or ``'ddpm'``.
        batch_size (int): images per forward pass.
        device (str): ``'auto'`` (CUDA if present), ``'cuda'``, ``'cpu'``.
        dtype (str): ``'auto'`` (fp16 on CUDA, fp32 on CPU), ``'fp32'``,
            ``'fp16'``, ``'bf16'``.
    """
    varies_strength = True

    def __init__(self, strength: float, strength_inside: Optional[float],
                 num_inference_steps: int, scheduler: str, batch_size: int,
                 device: str, dtype: str):
        for s in (strength, strength_inside):
            if s is not None and not 0 <= s <= 1:
                raise ValueError(f'strengths must be in [0, 1], got {s}.')
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got "
                             f"'{scheduler}'.")
        if dtype != 'auto' and dtype not in DTYPES:
            raise ValueError(f"dtype must be 'auto' or one of "
                             f'{tuple(DTYPES)}, got {dtype!r}.')
        self.strength = float(strength)
        self.strength_inside = None if strength_inside is None \
            else float(strength_inside)
        self.num_inference_steps = int(num_inference_steps)
        self.scheduler_name = scheduler
        self.batch_size = int(batch_size)
        self.device = torch.device(
            ('cuda' if torch.cuda.is_available() else 'cpu')
            if device == 'auto' else device)
        self.dtype = DTYPES[dtype] if dtype != 'auto' else (
            torch.float16 if self.device.type == 'cuda' else torch.float32)

    def generate(self, images: List[np.ndarray], annotations: List[dict],
                 seeds: List[int]) -> List[np.ndarray]:
        groups = {}
        for i, ann in enumerate(annotations):
            key = (float(ann.get('strength', self.strength)),
                   ann.get('strength_inside', self.strength_inside))
            if not 0 <= key[0] <= 1:
                raise ValueError(f'strengths must be in [0, 1], got '
                                 f'{key[0]}.')
            groups.setdefault(key, []).append(i)
        out = [None] * len(images)
        for (strength, inside), idx in groups.items():
            made = self.edit([images[i] for i in idx],
                             [annotations[i] for i in idx],
                             [seeds[i] for i in idx], strength, inside)
            for i, img in zip(idx, made):
                out[i] = img
        return out

    def edit(self, images: List[np.ndarray], annotations: List[dict],
             seeds: List[int], strength: float,
             strength_inside: Optional[float]) -> List[np.ndarray]:
        """:meth:`generate` for images of one ``strength`` (and
        ``strength_inside``)."""
        raise NotImplementedError

    def scheduler_class(self):
        from diffusers import DDIMScheduler, DDPMScheduler
        return DDIMScheduler if self.scheduler_name == 'ddim' \
            else DDPMScheduler

    def sdedit_settings(self) -> dict:
        return dict(
            strength=self.strength, strength_inside=self.strength_inside,
            steps=self.num_inference_steps, scheduler=self.scheduler_name,
            device=self.device.type, dtype=str(self.dtype))
