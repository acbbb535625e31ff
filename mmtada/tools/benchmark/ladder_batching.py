"""A strength per image: grouped by strength (what the generators do)
against one mixed batch, side by side on the same images and seeds.

    python tools/benchmark/ladder_batching.py [--batch 64] [--steps 20]
        [--strengths 0.5,0.35,0.2] [--channels 32,64,128] [--resolution 32]
        [--repeats 3] [--device cpu] [--json FILE]

The model is the README's CIFAR recipe-B architecture (class-conditional
``UNet2DModel``, widths 32/64/128, 32 px) with random weights, saved and
loaded as users' weights are. *Grouped*: ``PixelSDEdit.generate`` with each
image's ``strength`` in its annotation (one denoising pass per strength,
each image as it would be made alone). *Mixed*: one pass over the whole
batch from the highest strength, each image held at its source noised to
the current step until its own strength starts (``sdedit`` with a
per-image strength map; an image is then not the one made alone). Prints
img/s, UNet evaluations per image and the ratio; a ladder's tries are
mostly of one strength, so this is the worst case for grouping.
"""
import argparse
import json
import tempfile
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import numpy as np
import torch

from mmtada.generators import PixelSDEdit, sdedit
from mmtada.generators.diffusion_training import build_unet
from mmtada.generators.image_io import to_model


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--strengths', default='0.5,0.35,0.2')
    p.add_argument('--channels', default='32,64,128')
    p.add_argument('--resolution', type=int, default=32)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--device', default='cpu')
    p.add_argument('--json')
    return p.parse_args()


def save_model(folder, resolution, channels):
    from diffusers import DDPMPipeline, DDPMScheduler
    torch.manual_seed(0)
    unet = build_unet(resolution, channels, num_classes=10)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(
        num_train_timesteps=1000)).save_pretrained(folder)
    return folder


def mixed(gen, images, labels, strengths, seeds):
    """One batch: the per-image strength map of ``sdedit``."""
    x0 = to_model(images, gen.resolution, gen.device, gen.dtype)
    per_image = torch.tensor(strengths)[:, None, None, None]
    gens = [torch.Generator('cpu').manual_seed(s) for s in seeds]
    cls = torch.tensor(labels, device=gen.device)
    return sdedit(x0, gen._predict(cls), gen.scheduler,
                  gen.num_inference_steps, per_image, gens)


def main():
    setup_env()
    args = parse_args()
    levels = [float(s) for s in args.strengths.split(',')]
    channels = [int(c) for c in args.channels.split(',')]
    rng = np.random.RandomState(0)
    n = args.batch
    images = [rng.randint(0, 256, (args.resolution, args.resolution, 3),
                          np.uint8) for _ in range(n)]
    labels = [i % 10 for i in range(n)]
    strengths = [levels[i % len(levels)] for i in range(n)]
    seeds = list(range(n))
    anns = [dict(gt_label=y, strength=s) for y, s in zip(labels, strengths)]
    with tempfile.TemporaryDirectory() as tmp:
        gen = PixelSDEdit(save_model(tmp, args.resolution, channels),
                          num_inference_steps=args.steps, batch_size=n,
                          device=args.device)
        evals = dict(
            grouped=sum(int(s * args.steps) for s in strengths) / n,
            mixed=float(int(max(strengths) * args.steps)))
        times = dict(grouped=[], mixed=[])
        gen.generate(images[:2], anns[:2], seeds[:2])  # warm-up
        for _ in range(args.repeats):  # interleaved: same conditions
            start = time.perf_counter()
            gen.generate(images, anns, seeds)
            times['grouped'].append(time.perf_counter() - start)
            start = time.perf_counter()
            mixed(gen, images, labels, strengths, seeds)
            times['mixed'].append(time.perf_counter() - start)
    out = {k: dict(img_s=n / float(np.median(v)), seconds=v,
                   unet_evals_per_image=evals[k]) for k, v in times.items()}
    out['grouped_over_mixed'] = out['grouped']['img_s'] / \
        out['mixed']['img_s']
    out['settings'] = dict(vars(args), threads=torch.get_num_threads())
    for k in ('grouped', 'mixed'):
        print(f"{k:8} {out[k]['img_s']:7.1f} img/s  "
              f"{out[k]['unet_evals_per_image']:.1f} UNet evaluations "
              'per image')
    print(f"grouped / mixed: {out['grouped_over_mixed']:.2f}x")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)


if __name__ == '__main__':
    main()
