"""Train a small pixel diffusion model on the training set of an
mmpretrain or mmdet config, for PixelSDEdit (domains and datasets that no
public model fits): class-conditional for classification; unconditional on
whole images letterboxed to the resolution (as BoxPreservingSDEdit shows
them) for detection.

    python tools/train_diffusion.py CONFIG --work-dir DIR
        [--steps 20000 | --minutes M] [--batch-size 128] [--resolution R]
        [--channels 64,128,256] [--max-strength S] [--prediction epsilon|v]
        [--min-snr-gamma G] [--precision auto|fp32|bf16] [--resume]
        [--init-from FOLDER_OR_HUB_ID] [--cfg-options k=v ...]

``--init-from`` fine-tunes a pretrained ``UNet2DModel`` (a
``DDPMPipeline`` folder such as ddpm-cifar10-32, or its hub id) instead of
starting from noise: its architecture, resolution, scheduler and
prediction type are kept; for classification an unconditional model gets
a class embedding, zero at the start. One clear error when it does not
fit (another ``--resolution``, a one-channel model for colour data, other
class conditioning).

The model is trained where SDEdit uses it: ``--max-strength S`` draws the
noise levels from t < S * T only (SDEdit at strength s never starts above
s * T; set S to the largest strength you will edit with). Grey datasets
(every channel equal) are detected and trained on one channel (the saved
UNet has ``in_channels=1``; PixelSDEdit returns equal channels).

Writes ``DIR/pipeline`` (``DDPMPipeline.save_pretrained``: the EMA UNet and
its scheduler with the prediction type; give it to
``PixelSDEdit(weights=...)``), ``DIR/train_state.pth`` (model, EMA,
optimizer, step, seconds) every ``--save-interval`` steps and at the end
(step budget or ``--minutes`` of training, counted over resumed runs),
both atomically, and ``DIR/training.json`` (the settings, steps, seconds);
``--resume`` continues from the state. One process; the data are read
through the config's own dataset (the one TADADataset wraps), with random
horizontal flips.
"""
import argparse
import copy
import os
import os.path as osp
import shutil
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import numpy as np
import torch
from mmengine.config import Config, DictAction

from mmtada.apis import build_sample_reader
from mmtada.generators.diffusion_training import (PREDICTIONS, TrainImages,
                                                  build_unet, check_resolution,
                                                  diffusion_loss,
                                                  is_grayscale,
                                                  pretrained_unet,
                                                  sample_timesteps,
                                                  valid_resolution)
from mmtada.generators.diffusion_weights import resolve_weights
from mmtada.utils import atomic_path, atomic_write_json, replace_dir


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--steps', type=int, default=20000)
    p.add_argument('--minutes', type=float,
                   help='wall-time budget of training (over resumed runs); '
                   'ends and saves at whichever of it and --steps comes first')
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--lr', type=float, default=2e-4)
    p.add_argument('--warmup', type=int, default=500)
    p.add_argument('--resolution', type=int,
                   help='model resolution (default: the longer image side '
                   'rounded up to a multiple the UNet halves to, at most 64; '
                   'detection: 64)')
    p.add_argument('--channels', default='64,128,256',
                   help='UNet block widths; attention in the last two')
    p.add_argument('--max-strength', type=float, default=1.0,
                   help='train the noise levels t < S * T only')
    p.add_argument('--prediction', choices=['epsilon', 'v'],
                   help='the UNet\'s target (default: epsilon; with '
                   '--init-from, the pretrained model\'s)')
    p.add_argument('--init-from',
                   help='a pretrained UNet2DModel (DDPMPipeline folder or '
                   'hub id) to fine-tune')
    p.add_argument('--min-snr-gamma', type=float,
                   help='Min-SNR-gamma loss weighting (e.g. 5)')
    p.add_argument('--grayscale', choices=['auto', 'yes', 'no'],
                   default='auto', help='one channel (auto: if the data are '
                   'grey)')
    p.add_argument('--precision', choices=['auto', 'fp32', 'bf16'],
                   default='auto', help='autocast of the forward; auto: bf16 '
                   'on CUDA, fp32 on CPU')
    p.add_argument('--ema-decay', type=float, default=0.999,
                   help='EMA decay, reached after a warm-up of '
                   '(1 + step) / (10 + step)')
    p.add_argument('--save-interval', type=int, default=1000)
    p.add_argument('--num-workers', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='auto')
    p.add_argument('--resume', action='store_true')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def autocast_dtype(precision: str, device: torch.device):
    """bf16 autocast on CUDA; fp32 on CPU, where bf16 autocast (and
    channels_last, torch.compile) measured slower than fp32 eager even with
    native bf16 (tools/benchmark/diffusion_training.py: 0.88x at batch 32,
    0.92x at 64 on 2 AVX512-BF16 cores)."""
    if precision == 'auto':
        return torch.bfloat16 if device.type == 'cuda' else None
    return torch.bfloat16 if precision == 'bf16' else None


def save_pipeline(ema, scheduler, folder):
    """save_pretrained into a temp folder, then swap it in."""
    from diffusers import DDPMPipeline
    tmp = folder + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    DDPMPipeline(unet=ema, scheduler=scheduler).save_pretrained(tmp)
    replace_dir(tmp, folder)


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args()
    from diffusers import DDPMScheduler
    from tqdm import tqdm
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(args.device if args.device != 'auto' else
                          ('cuda' if torch.cuda.is_available() else 'cpu'))
    reader = build_sample_reader(cfg)
    detection = reader.is_detection
    grayscale = args.grayscale == 'yes' or (
        args.grayscale == 'auto' and is_grayscale(reader))
    num_classes = None if detection else len(reader.classes or []) or int(
        reader.gt_labels().max()) + 1
    wanted = None if args.prediction is None else (
        'epsilon' if args.prediction == 'epsilon' else 'v_prediction')
    if args.init_from:
        try:
            unet, scheduler = pretrained_unet(
                resolve_weights(args.init_from), args.resolution,
                num_classes, grayscale)
        except ValueError as e:
            raise SystemExit(str(e))
        resolution = int(unet.config.sample_size)
        grayscale = unet.config.in_channels == 1
        scheduler = scheduler or DDPMScheduler(num_train_timesteps=1000)
        prediction = scheduler.config.prediction_type
        if wanted not in (None, prediction):
            raise SystemExit(
                f'--prediction {args.prediction} is not the pretrained '
                f"model's target ({prediction}): leave it out.")
        channels = list(unet.config.block_out_channels)
    else:
        channels = [int(c) for c in args.channels.split(',')]
        if args.resolution:
            check_resolution(args.resolution, len(channels))
            resolution = args.resolution
        else:
            resolution = 64 if detection else valid_resolution(
                max(reader.source_image(0).shape[:2]), len(channels))
        prediction = wanted or 'epsilon'
        unet = build_unet(resolution, channels, num_classes,
                          1 if grayscale else 3)
        scheduler = DDPMScheduler(num_train_timesteps=1000,
                                  prediction_type=prediction)
    assert prediction in PREDICTIONS
    dtype = autocast_dtype(args.precision, device)
    os.makedirs(args.work_dir, exist_ok=True)
    state_path = osp.join(args.work_dir, 'train_state.pth')
    unet = unet.to(device)
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    step, spent = 0, 0.0
    if args.resume and osp.exists(state_path):
        state = torch.load(state_path, map_location=device, weights_only=True)
        unet.load_state_dict(state['model'])
        ema.load_state_dict(state['ema'])
        opt.load_state_dict(state['optimizer'])
        step, spent = int(state['step']), float(state.get('seconds', 0.0))
        torch.manual_seed(args.seed + step)
        np.random.seed(args.seed + step)
        print(f'resumed from step {step} ({spent / 60:.1f} min trained)')
    loader = torch.utils.data.DataLoader(
        TrainImages(reader, resolution, grayscale),
        batch_size=args.batch_size, shuffle=True,
        drop_last=len(reader) >= args.batch_size,
        num_workers=args.num_workers, persistent_workers=args.num_workers > 0)
    alphas = scheduler.alphas_cumprod.to(device)
    steps_total = scheduler.config.num_train_timesteps
    params = sum(p.numel() for p in unet.parameters())
    budget = args.minutes * 60 if args.minutes else float('inf')
    print(f'{len(reader)} images, '
          f"{'unconditional' if detection else f'{num_classes} classes'}, "
          f"{resolution}px{', grey' if grayscale else ''}, "
          f'UNet {params / 1e6:.1f}M params'
          f"{f' from {args.init_from}' if args.init_from else ''}, "
          f'{device}, '
          f"{'bf16' if dtype else 'fp32'}, t < {args.max_strength:g}T, "
          f'{prediction}, min-SNR {args.min_snr_gamma}')

    def save():
        with atomic_path(state_path) as tmp:
            torch.save(dict(model=unet.state_dict(), ema=ema.state_dict(),
                            optimizer=opt.state_dict(), step=step,
                            seconds=spent), tmp)
        save_pipeline(ema, scheduler, osp.join(args.work_dir, 'pipeline'))
        atomic_write_json(osp.join(args.work_dir, 'training.json'), dict(
            vars(args), steps_done=step, seconds=round(spent, 1),
            resolution=resolution, grayscale=grayscale,
            prediction_type=prediction, autocast=str(dtype)), indent=1)

    bar = tqdm(total=args.steps, initial=step, unit='step', smoothing=0.05)
    start, seen, last = time.perf_counter(), 0, time.perf_counter()
    unet.train()
    done = step >= args.steps or spent >= budget
    while not done:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            t = sample_timesteps(len(x), steps_total, args.max_strength,
                                 device)
            loss = diffusion_loss(
                unet, x, t, torch.randn_like(x), alphas,
                labels=None if detection else y, prediction=prediction,
                min_snr_gamma=args.min_snr_gamma, autocast_dtype=dtype)
            for group in opt.param_groups:
                group['lr'] = args.lr * min(1.0, (step + 1) / args.warmup)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            # EMA with warm-up, so that short runs are not dominated by the
            # random initial weights.
            decay = min(args.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for e, p in zip(ema.parameters(), unet.parameters()):
                    e.lerp_(p, 1 - decay)
            now = time.perf_counter()
            spent += now - last
            last = now
            step += 1
            seen += len(x)
            bar.update(1)
            bar.set_postfix(loss=f'{loss.item():.4f}',
                            img_s=f'{seen / (now - start):.0f}')
            done = step >= args.steps or spent >= budget
            if step % args.save_interval == 0 or done:
                save()
                last = time.perf_counter()  # saving is not training
            if done:
                break
    bar.close()
    if not osp.exists(osp.join(args.work_dir, 'pipeline')):
        save()
    print(f"saved {osp.join(args.work_dir, 'pipeline')} after {step} steps "
          f'({spent / 60:.1f} min)')


if __name__ == '__main__':
    main()
