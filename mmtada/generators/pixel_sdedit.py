"""SDEdit with a pixel-space diffusion model (diffusers UNet2DModel)."""
from typing import List, Optional

import cv2
import numpy as np
import torch

from mmtada.registry import GENERATORS
from .diffusion_weights import (read_class_name, resolve_weights,
                                weights_fingerprint)
from .image_io import (from_model, keep_exact, letterbox, resize,
                       strength_maps, to_model)
from .sdedit_generator import SDEditGenerator
from .sdedit_loop import sdedit


@GENERATORS.register_module()
class PixelSDEdit(SDEditGenerator):
    """Noise each image to ``strength`` of the schedule and denoise it back
    with a pixel diffusion model.

    The model is a diffusers ``UNet2DModel``, unconditional or
    class-conditional (``num_class_embeds``: the annotation's ``gt_label``
    is its class), from a folder laid out as ``DDPMPipeline.save_pretrained``
    writes it (``unet/``, ``scheduler/``; what ``tools/train_diffusion.py``
    makes) or a model folder alone, or a hub id. Images are letterboxed to
    the model's resolution (longer side scaled to it, aspect kept, reflect
    padding) and cropped and resized back. A one-channel model (trained on
    grey images) edits the grey level and returns equal channels. The
    scheduler's ``prediction_type`` (epsilon or v) is the saved one. With
    a ``mask`` in an annotation, pixels inside get ``strength_inside`` (0
    keeps them exactly). Each variant's noise comes from its own seed: the
    same seed, the same image.

    Args:
        weights (str): folder or hub id.
        strength (float): in [0, 1]; t0 = strength * T. Defaults to 0.5.
        strength_inside (float, optional): strength inside annotation
            masks (0 keeps them exactly). Defaults to None (masks ignored).
        num_inference_steps (int): steps of the full schedule. Defaults
            to 100.
        scheduler (str): ``'ddim'`` or ``'ddpm'``. Defaults to ``'ddim'``.
        batch_size (int): images per forward pass. Defaults to 64.
        device (str): ``'auto'``, ``'cuda'`` or ``'cpu'``. Defaults to
            ``'auto'`` (CUDA if present).
        dtype (str): ``'auto'``, ``'fp32'``, ``'fp16'``, ``'bf16'``.
            Defaults to ``'auto'`` (fp16 on CUDA, fp32 on CPU).
        allow_pickle (bool): also accept ``.bin`` (pickle) weights.
            Defaults to False.
    """

    def __init__(self,
                 weights: str,
                 strength: float = 0.5,
                 strength_inside: Optional[float] = None,
                 num_inference_steps: int = 100,
                 scheduler: str = 'ddim',
                 batch_size: int = 64,
                 device: str = 'auto',
                 dtype: str = 'auto',
                 allow_pickle: bool = False):
        super().__init__(strength, strength_inside, num_inference_steps,
                         scheduler, batch_size, device, dtype)
        from diffusers import UNet2DModel
        folder = resolve_weights(weights, allow_pickle)
        sub = 'unet' if read_class_name(folder, 'unet') else ''
        found = read_class_name(folder, sub)
        if found != 'UNet2DModel':
            raise ValueError(
                f"'{weights}' holds a {found or 'non-diffusers'} model, not a "
                'UNet2DModel: PixelSDEdit needs a pixel diffusion model '
                '(e.g. from tools/train_diffusion.py); for Stable Diffusion '
                'weights use LatentSDEdit.')
        self.unet = UNet2DModel.from_pretrained(
            folder, subfolder=sub or None, use_safetensors=not allow_pickle,
            dtype=self.dtype).to(self.device).eval()
        sched_cls = self.scheduler_class()
        try:
            self.scheduler = sched_cls.from_pretrained(
                folder, subfolder='scheduler' if sub else None)
        except (OSError, ValueError):
            self.scheduler = sched_cls(num_train_timesteps=1000)
        self.resolution = int(self.unet.config.sample_size)
        self.conditional = self.unet.config.num_class_embeds is not None
        self.grayscale = self.unet.config.in_channels == 1
        self._fingerprint = weights_fingerprint(folder)

    def _predict(self, labels):
        def predict(x, t):
            return self.unet(x, t, class_labels=labels).sample
        return predict

    def edit(self, images: List[np.ndarray], annotations: List[dict],
             seeds: List[int], strength: float,
             strength_inside: Optional[float]) -> List[np.ndarray]:
        r = self.resolution
        boxes = [letterbox(img, r) for img in images]
        masked = []
        for ann, img in zip(annotations, images):
            if ann.get('mask') is not None:
                mask = np.asarray(ann['mask'], np.uint8)
                ann = dict(ann, mask=letterbox(mask, r, cv2.INTER_NEAREST)[0])
            masked.append(ann)
        x0 = to_model([b for b, _ in boxes], r, self.device, self.dtype)
        if self.grayscale:  # a model of grey images: one channel
            x0 = x0.mean(1, keepdim=True)
        labels = None
        if self.conditional:
            labels = torch.tensor([int(a['gt_label']) for a in annotations],
                                  device=self.device)
        gens = [torch.Generator('cpu').manual_seed(int(s)) for s in seeds]
        per_pixel = strength_maps(masked, strength, strength_inside,
                                 r)
        x = sdedit(x0, self._predict(labels), self.scheduler,
                   self.num_inference_steps, per_pixel, gens)
        if self.grayscale:
            x = x.expand(-1, 3, -1, -1)
        squares = from_model(x, [(r, r)] * len(images))
        out = [resize(np.ascontiguousarray(sq[:sh, :sw]),
                      (img.shape[1], img.shape[0]))
               for sq, (_, (sh, sw)), img in zip(squares, boxes, images)]
        return keep_exact(images, out, annotations, strength,
                          strength_inside)

    def settings(self) -> dict:
        return dict(type='PixelSDEdit', weights=self._fingerprint,
                    fit='letterbox', **self.sdedit_settings())
