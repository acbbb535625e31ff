"""SDEdit with Stable Diffusion (image-to-image) in latent space."""
import hashlib
import os
import os.path as osp
from typing import List, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from mmtada.registry import GENERATORS
from .class_prompts import DEFAULT_TEMPLATE, ClassPrompts
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
    embeddings are computed once per prompt. fp16 on CUDA by default.

    An adaptation from ``tools/finetune_diffusion.py`` is applied with
    diffusers' own loaders: ``lora`` (its LoRA fused at ``scale``; 0 gives
    the base model back) and ``tokens`` (a token per class; the prompt of a
    sample names its classes' tokens, and the saved template is the
    default). Both are part of :meth:`settings`, so the variant cache
    never serves edits of the base model as the adapted one's.

    Args:
        weights (str): a Stable Diffusion folder or hub id (the layout of
            ``StableDiffusionImg2ImgPipeline.save_pretrained``).
        prompt_template (str, optional): ``{}`` is replaced by the class
            name (or token). Defaults to None: the tokens' saved template,
            else ``'a photo of a {}'``.
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
        lora (str | dict, optional): a LoRA folder (diffusers'
            ``pytorch_lora_weights.safetensors``), or ``dict(path=...,
            scale=1.0)``. Defaults to None.
        tokens (str, optional): a folder with ``prompts.json`` and the
            class tokens (``tools/finetune_diffusion.py``'s adapter).
            Defaults to None.
    """

    def __init__(self,
                 weights: str,
                 prompt_template: Optional[str] = None,
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
                 allow_pickle: bool = False,
                 lora: Optional[Union[str, dict]] = None,
                 tokens: Optional[str] = None):
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
        self.prompts = None
        self._adapter = {}
        if tokens is not None:
            self.prompts = load_tokens(pipe, tokens, prompt_template)
            self._adapter['tokens'] = files_fingerprint(
                self.prompts.token_files(tokens))
        if lora is not None:
            self._adapter['lora'] = fuse_lora(pipe, lora, weights)
        self.unet = pipe.unet.to(self.device).eval()
        self.vae = pipe.vae.to(self.device).eval()
        self.text_encoder = pipe.text_encoder.to(self.device).eval()
        self.tokenizer = pipe.tokenizer
        self.scheduler = self.scheduler_class().from_config(
            pipe.scheduler.config)
        self.vae_scale = 2**(len(self.vae.config.block_out_channels) - 1)
        self.resolution = int(resolution or self.unet.config.sample_size *
                              self.vae_scale)
        self.prompt_template = self.prompts.template if self.prompts \
            else prompt_template or DEFAULT_TEMPLATE
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
        cond = torch.cat([self._embed(self.prompt(a)) for a in annotations])
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

    def prompt(self, annotation: dict) -> str:
        """A sample's prompt: its classes' tokens in the tokens' prompts,
        else the template with its ``class_name``."""
        if self.prompts is not None:
            return self.prompts(annotation)
        return self.prompt_template.format(
            str(annotation.get('class_name', annotation['gt_label'])))

    def settings(self) -> dict:
        return dict(
            type='LatentSDEdit', weights=self._fingerprint,
            prompt=self.prompt_template, negative=self.negative_prompt,
            guidance=self.guidance_scale, resolution=self.resolution,
            **self._adapter, **self.sdedit_settings())


def files_fingerprint(paths: List[str]) -> str:
    """A hash of the bytes of ``paths`` (small adapter files)."""
    h = hashlib.sha1()
    for path in paths:
        with open(path, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def load_tokens(pipe, folder: str,
                template: Optional[str] = None) -> ClassPrompts:
    """Add the class tokens saved in ``folder`` to ``pipe`` with
    diffusers' ``load_textual_inversion``; their :class:`ClassPrompts`
    (with ``template`` if given). One clear error when they were learned
    for another text encoder."""
    from safetensors.torch import load_file
    saved = ClassPrompts.load(folder)
    if saved.tokens is None:
        raise ValueError(f'{folder} holds no class tokens (fine-tuned with '
                         "--method lora): pass it as lora=, not tokens=.")
    files = saved.token_files(folder)
    width = pipe.text_encoder.get_input_embeddings().weight.shape[-1]
    for path in files:
        for value in load_file(path).values():
            if value.shape[-1] != width:
                raise ValueError(
                    f'the tokens in {folder} are {value.shape[-1]}-wide '
                    f'embeddings; this model\'s text encoder takes {width}: '
                    'they were learned for another base model. Fine-tune '
                    'on this one (tools/finetune_diffusion.py).')
    pipe.load_textual_inversion(files, token=saved.tokens,
                                tokenizer=pipe.tokenizer,
                                text_encoder=pipe.text_encoder)
    return ClassPrompts(saved.classes, template or saved.template,
                        saved.tokens)


def fuse_lora(pipe, lora: Union[str, dict], weights: str) -> dict:
    """Load a LoRA folder (``lora`` or ``dict(path, scale=1.0)``) into
    ``pipe`` with diffusers' ``load_lora_weights`` and fuse it at
    ``scale``; returns its settings. One clear error when it does not fit
    the UNet."""
    cfg = dict(path=lora) if isinstance(lora, str) else dict(lora)
    unknown = set(cfg) - {'path', 'scale'}
    if 'path' not in cfg or unknown:
        raise ValueError(f'lora must be a folder or dict(path=..., scale=1.0)'
                         f', got {lora!r}.')
    path, scale = str(cfg['path']), float(cfg.get('scale', 1.0))
    if not osp.isdir(path):
        raise FileNotFoundError(
            f'no LoRA folder at {path}: give the adapter/ folder that '
            'tools/finetune_diffusion.py wrote (or any diffusers LoRA '
            'folder).')
    try:
        pipe.load_lora_weights(path)
    except (ValueError, RuntimeError, KeyError) as e:
        raise ValueError(
            f'the LoRA in {path} does not fit the UNet of {weights} '
            f'({type(e).__name__}: {str(e).splitlines()[0][:200]}): it was '
            'trained for another base model. Fine-tune on this one '
            '(tools/finetune_diffusion.py).') from None
    pipe.fuse_lora(lora_scale=scale)
    pipe.unload_lora_weights()
    files = sorted(osp.join(path, f) for f in os.listdir(path)
                   if f.endswith('.safetensors'))
    return dict(file=files_fingerprint(files), scale=scale)
