"""Where the time of box-preserving generation on full-size photos goes.

    python tools/benchmark/photo_generation.py [--size 4608x3456]
        [--images 4] [--resolution 64] [--steps 20] [--json FILE]

Makes ``--images`` variants of a photo-sized synthetic image (gradients,
sensor noise, three boxes; its JPEG decoded as a dataset would) with
``BoxPreservingSDEdit`` around a ``PixelSDEdit`` of the shape the README's
BCCD runs use (a 64 px unconditional ``UNet2DModel``, widths 32/64/128,
random weights) and writes them to a variant cache, under cProfile. Prints
seconds per image in each stage: the model (torch), the full-resolution
restore of the edit (beside the float formula it replaced, timed on the
same inputs), PNG encoding, decoding the source, the rest.
"""
import argparse
import cProfile
import json
import pstats
import tempfile
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import cv2
import numpy as np
import torch

from mmtada.generators import VariantCache
from mmtada.generators.box_preserving_sdedit import add_edit
from mmtada.generators.diffusion_training import build_unet
from mmtada.registry import GENERATORS

# Stages timed by the self time of the functions whose file or name holds
# one of the keys; the restore is add_edit with what it calls.
SELF_TIMED = (('model', ('torch', 'diffusers')),
              ('png encode', ('imencode', )),
              ('source decode', ('imdecode', )))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--size', default='4608x3456')
    p.add_argument('--images', type=int, default=4)
    p.add_argument('--resolution', type=int, default=64)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--json')
    return p.parse_args()


def photo(w, h):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w * 200 + 20, yy / h * 180 + 30,
                    (xx + yy) / (h + w) * 150 + 50], -1)
    img += np.random.RandomState(0).randn(h, w, 3).astype(np.float32) * 8
    return img.clip(0, 255).astype(np.uint8)


def float_restore(img, before, after):
    """What the restore was: float32 at full resolution."""
    h, w = img.shape[:2]
    delta = cv2.resize(after.astype(np.float32) - before, (w, h),
                       interpolation=cv2.INTER_LINEAR)
    return np.clip(img + delta, 0, 255).round().astype(np.uint8)


def stage_seconds(profile, total: float) -> dict:
    """Seconds per stage: the model is the self time of torch's and
    diffusers' functions, the restore ``add_edit`` with what it calls,
    PNG encoding and decoding OpenCV's calls; the rest is the remainder
    (letterboxing, masks, hashing, file writes, Python)."""
    out = {name: 0.0 for name, _ in SELF_TIMED}
    out['restore'] = 0.0
    for (path, _, func), (_, _, tottime, cumtime, _) in \
            pstats.Stats(profile).stats.items():
        if func == 'add_edit':
            out['restore'] += cumtime
            continue
        for name, keys in SELF_TIMED:
            if any(k in f'{path}:{func}' for k in keys):
                out[name] += tottime
                break
    out['rest'] = total - sum(out.values())
    return out


def main():
    setup_env()
    args = parse_args()
    w, h = (int(v) for v in args.size.split('x'))
    img = photo(w, h)
    ok, jpeg = cv2.imencode('.jpg', img)
    boxes = np.array([[0.1, 0.1, 0.3, 0.35], [0.45, 0.45, 0.65, 0.75],
                      [0.75, 0.1, 0.93, 0.38]], np.float32) * [w, h, w, h]
    ann = dict(gt_label=0, class_name='cell', bboxes=boxes,
               labels=np.zeros(3, np.int64))
    with tempfile.TemporaryDirectory() as tmp:
        from diffusers import DDPMPipeline, DDPMScheduler
        torch.manual_seed(0)
        DDPMPipeline(unet=build_unet(args.resolution, (32, 64, 128), None),
                     scheduler=DDPMScheduler(num_train_timesteps=1000)
                     ).save_pretrained(f'{tmp}/w')
        gen = GENERATORS.build(dict(
            type='mmtada.BoxPreservingSDEdit', generator=dict(
                type='mmtada.PixelSDEdit', weights=f'{tmp}/w',
                num_inference_steps=args.steps)))
        cache = VariantCache(f'{tmp}/cache', '0' * 12, dict(bench=1))
        gen.generate([img], [ann], [0])  # warm-up
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        for i in range(args.images):
            src = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR),
                               cv2.COLOR_BGR2RGB)
            var, = gen.generate([src], [ann], [i])
            cache.write(0, i, var)
        profile.disable()
        total = time.perf_counter() - start
    seconds = {k: v / args.images
               for k, v in stage_seconds(profile, total).items()}
    total /= args.images
    small = (np.random.RandomState(1).rand(args.resolution * h // w,
                                           args.resolution, 3) * 255
             ).astype(np.uint8)
    edited = np.clip(small.astype(int) + 20, 0, 255).astype(np.uint8)
    restore = {}
    for name, fn in (('float', float_restore), ('int16', add_edit)) * 2:
        t = time.perf_counter()
        fn(img, small, edited)
        restore[name] = time.perf_counter() - t  # the second of each
    out = dict(seconds_per_image=total, stages=seconds,
               restore_float_s=restore['float'],
               restore_int16_s=restore['int16'], settings=vars(args))
    print(f'{total:.2f} s per {w}x{h} image; per stage:')
    for name, s in seconds.items():
        print(f'  {name:14} {s:6.2f} s  ({100 * s / total:4.1f}%)')
    print(f"restore alone: int16 {restore['int16']:.3f} s, the float "
          f"formula it replaced {restore['float']:.3f} s")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)


if __name__ == '__main__':
    main()
