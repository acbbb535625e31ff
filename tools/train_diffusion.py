"""Train a small pixel diffusion model on the training set of an
mmpretrain or mmdet config, for PixelSDEdit (domains and datasets that no
public model fits): class-conditional for classification; unconditional on
whole images letterboxed to the resolution (as BoxPreservingSDEdit shows
them) for detection.

    python tools/train_diffusion.py CONFIG --work-dir DIR [--steps 20000]
        [--batch-size 128] [--resolution R] [--channels 64,128,256]
        [--resume] [--cfg-options k=v ...]

Writes ``DIR/pipeline`` (``DDPMPipeline.save_pretrained``: the EMA UNet and
its scheduler; give it to ``PixelSDEdit(weights=...)``) and
``DIR/train_state.pth`` (model, EMA, optimizer, step) every
``--save-interval`` steps, both atomically; ``--resume`` continues from the
state. One process; the data are read through the config's own dataset
(the one TADADataset wraps), with random horizontal flips.
"""
import argparse
import copy
import math
import os
import os.path as osp
import shutil
import time

import mmtada  # noqa: F401  (first: applies the compatibility fixes)
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction

from mmtada.apis import build_sample_reader
from mmtada.datasets import SampleReader
from mmtada.generators.image_io import letterbox, to_model
from mmtada.utils import atomic_path, replace_dir


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--steps', type=int, default=20000)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--lr', type=float, default=2e-4)
    p.add_argument('--warmup', type=int, default=500)
    p.add_argument('--resolution', type=int,
                   help='model resolution (default: the first image size; '
                   'detection: 64)')
    p.add_argument('--channels', default='64,128,256',
                   help='UNet block widths; attention in the last two')
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


class TrainImages(torch.utils.data.Dataset):
    """(image in [-1, 1] at the model resolution, label) of each base
    training sample, flipped at random; detection images are letterboxed
    and get label -1 (unconditional)."""

    def __init__(self, reader: SampleReader, resolution: int):
        self.reader = reader
        self.resolution = resolution
        self.detection = reader.is_detection
        self.labels = None if self.detection else reader.gt_labels()

    def __len__(self):
        return len(self.reader)

    def __getitem__(self, i):
        img = self.reader.source_image(i)
        if self.detection:
            img = letterbox(img, self.resolution)[0]
        x = to_model([img], self.resolution, 'cpu', torch.float32)[0]
        if np.random.random() < 0.5:
            x = x.flip(-1)
        return x, -1 if self.detection else int(self.labels[i])


def build_unet(resolution, channels, num_classes):
    from diffusers import UNet2DModel
    n = len(channels)
    down = ['DownBlock2D'] * (n - 2) + ['AttnDownBlock2D'] * min(2, n - 1)
    down = (['DownBlock2D'] + down)[-n:]
    up = [b.replace('Down', 'Up') for b in reversed(down)]
    return UNet2DModel(
        sample_size=resolution, in_channels=3, out_channels=3,
        block_out_channels=tuple(channels), layers_per_block=2,
        down_block_types=tuple(down), up_block_types=tuple(up),
        num_class_embeds=num_classes, dropout=0.1,
        norm_num_groups=math.gcd(32, *channels))


def save_pipeline(ema, scheduler, folder):
    """save_pretrained into a temp folder, then swap it in."""
    from diffusers import DDPMPipeline
    tmp = folder + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    DDPMPipeline(unet=ema, scheduler=scheduler).save_pretrained(tmp)
    replace_dir(tmp, folder)


def main():
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
    resolution = args.resolution or (
        64 if detection else reader.source_image(0).shape[0])
    channels = [int(c) for c in args.channels.split(',')]
    num_classes = None if detection else len(reader.classes or []) or int(
        reader.gt_labels().max()) + 1
    os.makedirs(args.work_dir, exist_ok=True)
    state_path = osp.join(args.work_dir, 'train_state.pth')
    unet = build_unet(resolution, channels, num_classes).to(device)
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    step = 0
    if args.resume and osp.exists(state_path):
        state = torch.load(state_path, map_location=device, weights_only=True)
        unet.load_state_dict(state['model'])
        ema.load_state_dict(state['ema'])
        opt.load_state_dict(state['optimizer'])
        step = int(state['step'])
        torch.manual_seed(args.seed + step)
        np.random.seed(args.seed + step)
        print(f'resumed from step {step}')
    loader = torch.utils.data.DataLoader(
        TrainImages(reader, resolution), batch_size=args.batch_size,
        shuffle=True, drop_last=len(reader) >= args.batch_size,
        num_workers=args.num_workers, persistent_workers=args.num_workers > 0)
    amp = device.type == 'cuda'
    alphas = scheduler.alphas_cumprod.to(device)
    params = sum(p.numel() for p in unet.parameters())
    print(f'{len(reader)} images, '
          f"{'unconditional' if detection else f'{num_classes} classes'}, "
          f'{resolution}px, '
          f'UNet {params / 1e6:.1f}M params, {device}')
    bar = tqdm(total=args.steps, initial=step, unit='step', smoothing=0.05)
    start, seen = time.perf_counter(), 0
    unet.train()
    while step < args.steps:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            noise = torch.randn_like(x)
            t = torch.randint(0, 1000, (len(x), ), device=device)
            a = alphas[t].view(-1, 1, 1, 1)
            noisy = a.sqrt() * x + (1 - a).sqrt() * noise
            with torch.autocast(device.type, torch.bfloat16, enabled=amp):
                pred = unet(noisy, t,
                            class_labels=None if detection else y).sample
            loss = F.mse_loss(pred.float(), noise)
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
            step += 1
            seen += len(x)
            bar.update(1)
            rate = seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f'{loss.item():.4f}', img_s=f'{rate:.0f}')
            if step % args.save_interval == 0 or step == args.steps:
                with atomic_path(state_path) as tmp:
                    torch.save(dict(model=unet.state_dict(),
                                    ema=ema.state_dict(),
                                    optimizer=opt.state_dict(), step=step),
                               tmp)
                save_pipeline(ema, scheduler,
                              osp.join(args.work_dir, 'pipeline'))
            if step >= args.steps:
                break
    bar.close()
    print(f"saved {osp.join(args.work_dir, 'pipeline')} after {step} steps")


if __name__ == '__main__':
    main()
