"""Generation speed: our SDEdit generators against the plain diffusers
path, on the same inputs, side by side.

    python tools/benchmark/generation.py                 # CPU: tiny models
    python tools/benchmark/generation.py --arch real     # GPU: SD-1.5 and
        # ddpm-cifar10-32 architectures with random weights (time is what
        # the real checkpoints cost)
    python tools/benchmark/generation.py --arch real --device cuda \
        --json generation.json   # as tools/benchmark/gpu_check.sh runs it

Latent: ``LatentSDEdit`` vs ``StableDiffusionImg2ImgPipeline`` (strength,
steps, guidance as given; with and without guidance). Pixel:
``PixelSDEdit`` vs a plain DDIM SDEdit loop over the same UNet. Models are
built from configs, saved with ``save_pretrained`` and loaded with
``from_pretrained``, as users' weights are. Prints img/s and ratios.
"""
import argparse
import json
import os.path as osp
import tempfile
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import numpy as np
import torch

from mmtada.generators import LatentSDEdit, PixelSDEdit
from mmtada.testing import save_tiny_latent_model, save_tiny_pixel_model


def save_real_latent(folder):
    """SD-1.5's architecture, random weights (tokenizer: the tiny one)."""
    from diffusers import (AutoencoderKL, DDIMScheduler,
                           StableDiffusionImg2ImgPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from mmtada.testing.tiny_diffusion import _write_tokenizer
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768,
                                attention_head_dim=8)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), layers_per_block=2,
        latent_channels=4, sample_size=512,
        down_block_types=('DownEncoderBlock2D', ) * 4,
        up_block_types=('UpDecoderBlock2D', ) * 4)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072,
        num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77))
    _write_tokenizer(osp.join(folder, '_tok'))
    tok = CLIPTokenizer.from_pretrained(osp.join(folder, '_tok'),
                                        model_max_length=77)
    sched = DDIMScheduler(beta_schedule='scaled_linear', beta_start=0.00085,
                          beta_end=0.012, clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    StableDiffusionImg2ImgPipeline(
        vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
        scheduler=sched, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False).save_pretrained(folder)
    return folder


def save_real_pixel(folder):
    """google/ddpm-cifar10-32's architecture (35.7M), random weights."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
    unet = UNet2DModel(
        sample_size=32, block_out_channels=(128, 256, 256, 256),
        layers_per_block=2,
        down_block_types=('DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D',
                          'DownBlock2D'),
        up_block_types=('UpBlock2D', 'UpBlock2D', 'AttnUpBlock2D',
                        'UpBlock2D'))
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler()).save_pretrained(folder)
    return folder


def timed(fn, n_images, repeats):
    fn()  # warm-up
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (
        lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return n_images * repeats / (time.perf_counter() - start)


def plain_pixel_loop(gen, images, strength, steps):
    """The obvious loop: same UNet, DDIM, from diffusers parts."""
    from diffusers import DDIMScheduler
    from mmtada.generators.image_io import from_model, to_model
    sched = DDIMScheduler.from_config(gen.scheduler.config)

    @torch.no_grad()
    def run():
        x0 = to_model(images, gen.resolution, gen.device, gen.dtype)
        sched.set_timesteps(steps, device=gen.device)
        ts = sched.timesteps[steps - int(strength * steps):]
        x = sched.add_noise(x0, torch.randn_like(x0), ts[:1])
        labels = torch.zeros(len(x), dtype=torch.long, device=x.device) \
            if gen.conditional else None
        for t in ts:
            out = gen.unet(x, t, class_labels=labels).sample
            x = sched.step(out, t, x).prev_sample
        return from_model(x, [im.shape for im in images])
    return run


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', choices=['tiny', 'real'], default='tiny')
    p.add_argument('--latent-batch', type=int)
    p.add_argument('--pixel-batch', type=int)
    p.add_argument('--latent-steps', type=int, default=50)
    p.add_argument('--pixel-steps', type=int, default=100)
    p.add_argument('--strength', type=float, default=0.5)
    p.add_argument('--guidance', type=float, default=7.5)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--device', default='auto',
                   help="'auto' (CUDA if present), 'cuda' or 'cpu'")
    p.add_argument('--dtype', default='auto',
                   choices=['auto', 'fp32', 'fp16', 'bf16'],
                   help="'auto': fp16 on CUDA, fp32 on CPU")
    p.add_argument('--json', help='also write the table to this JSON file')
    args = p.parse_args()
    on = dict(device=args.device, dtype=args.dtype)
    real = args.arch == 'real'
    lb = args.latent_batch or (32 if real else 4)
    pb = args.pixel_batch or (1024 if real else 64)
    rows = []
    cuda = args.device != 'cpu' and torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else 'CPU'

    def add(row, dtype):
        """Print a measured case at once and rewrite the JSON: a run cut
        short keeps what it measured."""
        rows.append(row)
        name, bs, a, base, b = row
        print(f'measured: {name}, batch {bs}: {a:.2f} img/s; {base}: '
              f'{b:.2f} img/s; ratio {a / b:.2f}', flush=True)
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(dict(
                    arch=args.arch, device=device, dtype=str(dtype),
                    strength=args.strength, latent_steps=args.latent_steps,
                    pixel_steps=args.pixel_steps, repeats=args.repeats,
                    torch=torch.__version__, rows=[dict(
                        case=name, batch=bs, ours_img_s=a, baseline=base,
                        baseline_img_s=b, ratio=a / b)
                        for name, bs, a, base, b in rows]), f, indent=1)
    with tempfile.TemporaryDirectory() as tmp:
        latent_dir = (save_real_latent if real else save_tiny_latent_model)(
            osp.join(tmp, 'latent'))
        pixel_dir = (save_real_pixel if real else save_tiny_pixel_model)(
            osp.join(tmp, 'pixel'))
        from diffusers import StableDiffusionImg2ImgPipeline
        from PIL import Image
        for guidance in (args.guidance, 1.0):
            ours = LatentSDEdit(latent_dir, guidance_scale=guidance,
                                strength=args.strength,
                                num_inference_steps=args.latent_steps,
                                batch_size=lb, **on)
            pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
                latent_dir, dtype=ours.dtype, safety_checker=None,
                requires_safety_checker=False).to(ours.device)
            pipe.scheduler = ours.scheduler.__class__.from_config(
                pipe.scheduler.config)
            pipe.set_progress_bar_config(disable=True)
            res = ours.resolution
            imgs = [np.random.RandomState(i).randint(
                0, 256, (res, res, 3), dtype=np.uint8) for i in range(lb)]
            ann = [dict(gt_label=0, class_name='cat')] * lb
            a = timed(lambda: ours.generate(imgs, ann, list(range(lb))), lb,
                      args.repeats)
            pil = [Image.fromarray(im) for im in imgs]
            b = timed(lambda: pipe(
                prompt=['a photo of a cat'] * lb, image=pil,
                strength=args.strength, guidance_scale=guidance,
                num_inference_steps=args.latent_steps, output_type='np'),
                lb, args.repeats)
            add((f'latent SDEdit, {res}px, guidance {guidance}', lb, a,
                 'diffusers img2img pipeline', b), ours.dtype)
        ours = PixelSDEdit(pixel_dir, strength=args.strength,
                           num_inference_steps=args.pixel_steps,
                           batch_size=pb, **on)
        res = ours.resolution
        imgs = [np.random.RandomState(i).randint(
            0, 256, (res, res, 3), dtype=np.uint8) for i in range(pb)]
        ann = [dict(gt_label=0)] * pb
        a = timed(lambda: ours.generate(imgs, ann, list(range(pb))), pb,
                  args.repeats)
        b = timed(plain_pixel_loop(ours, imgs, args.strength,
                                   args.pixel_steps), pb, args.repeats)
        add((f'pixel SDEdit, {res}px', pb, a, 'plain DDIM loop', b),
            ours.dtype)
    print(f'\n{args.arch} architectures on {device}, strength '
          f'{args.strength}, steps latent {args.latent_steps} / pixel '
          f'{args.pixel_steps}')
    print('| case | batch | ours img/s | baseline | baseline img/s | ratio |')
    print('| --- | --- | --- | --- | --- | --- |')
    for name, bs, a, base, b in rows:
        print(f'| {name} | {bs} | {a:.2f} | {base} | {b:.2f} | {a / b:.2f} |')


if __name__ == '__main__':
    main()
