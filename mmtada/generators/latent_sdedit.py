"""SDEdit with Stable Diffusion (image-to-image) in latent space."""
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from mmtada.registry import GENERATORS
from .diffusion_weights import (read_class_name, resolve_weights,
                                weights_fingerprint)
from .image_io import from_model, keep_exact, strength_maps, to_model
from .sdedit_generator import SDEditGenerator
from .sdedit_loop import sdedit


@GENERATORS.register_module()
class LatentSDEdit(SDEditGenerator):
    """Stable Diffusion image-to-image with class prompts, run as our own
    loop over the pipeline's components.

    Each image is resized to ``resolution``, encoded by the VAE (the latent
    mean: no sampling noise), noised to ``strength`` and denoised with
    classifier-free guidance on ``prompt_template.format(class name)``
    against ``negative_prompt``, decoded, and resized back. Masks work as in
    :class:`PixelSDEdit`, in latent space (the mask is downsampled to the
    latent grid); regions of strength 0 are returned exactly. Prompt
    embeddings are computed once per class. fp16 on CUDA by default.

    Args:
        weights (str): a Stable Diffusion folder or hub id (the layout of
            ``StableDiffusionImg2ImgPipeline.save_pretrained``).
        prompt_template (str): ``{}`` is replaced by the class name.
            Defaults to ``'a photo of a {}'``.
        negative_prompt (str): the unconditional side of the guidance.
            Defaults to ``''``.
        guidance_scale (float): 1 disables guidance (one UNet pass a
            step). Defaults to 7.5.
        strength (float): in [0, 1]. Defaults to 0.5.
        strength_inside (float, optional): strength inside annotation
            masks. Defaults to None (masks ignored).
        num_inference_steps (int): Defaults to 50.
        scheduler (str): ``'ddim'`` or ``'ddpm'``. Defaults to ``'ddim'``.
        resolution (int, optional): Defaults to None: the UNet's sample
            size x the VAE's scale factor.
        batch_size (int): Defaults to 16.
        device (str): Defaults to ``'auto'`` (CUDA if present).
        dtype (str): Defaults to ``'auto'`` (fp16 on CUDA, fp32 on CPU).
        allow_pickle (bool): also accept ``.bin`` weights. Defaults to
            False.
    """

    def __init__(self,
                 weights: str,
                 prompt_template: str = 'a photo of a {}',
                 negative_prompt: str = '',
                 guidance_scale: float = 7.5,
                 strength: float = 0.5,
                 strength_inside: Optional[float] = None,
                 num_inference_steps: int = 50,
                 scheduler: str = 'ddim',
                 resolution: Optional[int] = None,
                 batch_size: int = 16,
                 device: str = 'auto',
                 dtype: str = 'auto',
                 allow_pickle: bool = False):
        super().__init__(strength, strength_inside, num_inference_steps,
                         scheduler, batch_size, device, dtype)
        from diffusers import StableDiffusionImg2ImgPipeline
        folder = resolve_weights(weights, allow_pickle)
        if read_class_name(folder, 'unet') != 'UNet2DConditionModel':
            raise ValueError(
                f"'{weights}' is not a Stable Diffusion folder (no "
                'unet/config.json of a UNet2DConditionModel): LatentSDEdit '
                'needs text-to-image latent diffusion weights; for a pixel '
                'model use PixelSDEdit.')
        pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
            folder, dtype=self.dtype, safety_checker=None,
            feature_extractor=None, requires_safety_checker=False,
            use_safetensors=not allow_pickle)
        self.unet = pipe.unet.to(self.device).eval()
        self.vae = pipe.vae.to(self.device).eval()
        self.text_encoder = pipe.text_encoder.to(self.device).eval()
        self.tokenizer = pipe.tokenizer
        self.scheduler = self.scheduler_class().from_config(
            pipe.scheduler.config)
        self.vae_scale = 2**(len(self.vae.config.block_out_channels) - 1)
        self.resolution = int(resolution or self.unet.config.sample_size *
                              self.vae_scale)
        self.prompt_template = prompt_template
        self.negative_prompt = negative_prompt
        self.guidance_scale = float(guidance_scale)
        self._fingerprint = weights_fingerprint(folder)
        self._embeds = {}

    @torch.no_grad()
    def _embed(self, text: str) -> torch.Tensor:
        if text not in self._embeds:
            ids = self.tokenizer(
                text, padding='max_length', truncation=True,
                max_length=self.tokenizer.model_max_length,
                return_tensors='pt').input_ids.to(self.device)
            self._embeds[text] = self.text_encoder(ids)[0]
        return self._embeds[text]

    def _predict(self, cond: torch.Tensor, uncond: Optional[torch.Tensor]):
        g = self.guidance_scale

        def predict(x, t):
            if uncond is None:
                return self.unet(x, t, encoder_hidden_states=cond).sample
            out = self.unet(torch.cat([x, x]), t,
                            encoder_hidden_states=torch.cat([uncond, cond]))
            u, c = out.sample.chunk(2)
            return u + g * (c - u)
        return predict

    @torch.no_grad()
    def edit(self, images: List[np.ndarray], annotations: List[dict],
             seeds: List[int], strength: float,
             strength_inside: Optional[float]) -> List[np.ndarray]:
        x = to_model(images, self.resolution, self.device, self.dtype)
        sf = self.vae.config.scaling_factor
        latents = self.vae.encode(x).latent_dist.mean * sf
        names = [str(a.get('class_name', a['gt_label'])) for a in annotations]
        cond = torch.cat([self._embed(self.prompt_template.format(n))
                          for n in names])
        uncond = None
        if self.guidance_scale != 1:
            uncond = self._embed(self.negative_prompt).expand_as(cond)
        per_pixel = F.interpolate(
            strength_maps(annotations, strength, strength_inside,
                          self.resolution),
            size=latents.shape[-2:], mode='nearest')
        gens = [torch.Generator('cpu').manual_seed(int(s)) for s in seeds]
        latents = sdedit(latents, self._predict(cond, uncond),
                         self.scheduler, self.num_inference_steps, per_pixel,
                         gens)
        out = from_model(self.vae.decode(latents / sf).sample,
                         [img.shape for img in images])
        return keep_exact(images, out, annotations, strength,
                          strength_inside)

    def settings(self) -> dict:
        return dict(
            type='LatentSDEdit', weights=self._fingerprint,
            prompt=self.prompt_template, negative=self.negative_prompt,
            guidance=self.guidance_scale, resolution=self.resolution,
            **self.sdedit_settings())
