"""Training speed of tools/train_diffusion.py's UNet on this machine: fp32
eager against bf16 autocast, channels_last and torch.compile, side by side.

    python tools/benchmark/diffusion_training.py [--channels 32,64,128]
        [--resolution 32] [--batch-size 32] [--steps 6] [--rounds 3]
        [--compile]

Each setting trains its own copy of the same initial UNet (AdamW, the
tool's loss) on the same batches; rounds are interleaved, so drift of the
machine hits every setting alike. Prints the median seconds per step, the
speed-up over fp32 eager, and how far each setting's loss on a fixed batch
and gradient are from fp32's (numerically sound: loss within 1%, gradient
cosine > 0.99).
"""
import argparse
import contextlib
import copy
import statistics
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import torch

from mmtada.generators.diffusion_training import (build_unet, diffusion_loss,
                                                  sample_timesteps)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--channels', default='32,64,128')
    p.add_argument('--resolution', type=int, default=32)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--steps', type=int, default=6, help='timed per round')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--compile', action='store_true',
                   help='also torch.compile (compiling takes minutes)')
    return p.parse_args()


def batches(n, bs, res, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(bs, 3, res, res, generator=g) * 2 - 1,
             torch.randint(0, 10, (bs, ), generator=g),
             torch.randn(bs, 3, res, res, generator=g),
             sample_timesteps(bs, 1000)) for _ in range(n)]


class Setting:
    """One way to run the training step."""

    def __init__(self, name, unet, dtype=None, channels_last=False,
                 compile=False):
        self.name, self.dtype = name, dtype
        self.channels_last = channels_last
        self.unet = copy.deepcopy(unet)
        if channels_last:
            self.unet = self.unet.to(memory_format=torch.channels_last)
        self.model = torch.compile(self.unet) if compile else self.unet
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr=1e-4)
        self.times = []

    def loss(self, x, y, noise, t, alphas):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
            noise = noise.contiguous(memory_format=torch.channels_last)
        return diffusion_loss(self.model, x, t, noise, alphas, labels=y,
                              autocast_dtype=self.dtype)

    def step(self, batch, alphas):
        loss = self.loss(*batch, alphas)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def numerics(setting, reference, batch, alphas):
    """(relative loss difference, gradient cosine) against ``reference``
    on the same weights and batch."""
    out = []
    for s in (reference, setting):
        s.unet.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the same dropout masks
        loss = s.loss(*batch, alphas)
        loss.backward()
        out.append((loss.item(), torch.cat([
            p.grad.flatten().float() for p in s.unet.parameters()
            if p.grad is not None])))
    (l0, g0), (l1, g1) = out
    cos = torch.nn.functional.cosine_similarity(g0, g1, dim=0).item()
    return abs(l1 - l0) / abs(l0), cos


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args()
    from diffusers import DDPMScheduler
    torch.manual_seed(0)
    channels = [int(c) for c in args.channels.split(',')]
    unet = build_unet(args.resolution, channels, 10).train()
    alphas = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod
    bf16 = torch.bfloat16
    settings = [Setting('fp32 eager', unet),
                Setting('bf16 autocast', unet, bf16),
                Setting('fp32 channels_last', unet, channels_last=True),
                Setting('bf16 channels_last', unet, bf16, channels_last=True)]
    if args.compile:
        settings += [Setting('fp32 compile', unet, compile=True),
                     Setting('bf16 compile', unet, bf16, compile=True)]
    data = batches(args.steps, args.batch_size, args.resolution)
    sound = {s.name: numerics(s, settings[0], data[0], alphas)
             for s in settings}  # before any training step: same weights
    for s in settings:  # warm-up (compiles)
        s.step(data[0], alphas)
    for _ in range(args.rounds):
        for s in settings:
            start = time.perf_counter()
            for batch in data:
                s.step(batch, alphas)
            s.times.append((time.perf_counter() - start) / len(data))
    base = statistics.median(settings[0].times)
    print(f'UNet {args.channels} at {args.resolution}px, batch '
          f'{args.batch_size}, {torch.get_num_threads()} threads, '
          f'native bf16: {torch.cpu._is_avx512_bf16_supported()}')
    print(f"{'setting':22} {'s/step':>8} {'speed-up':>9} "
          f"{'loss diff':>10} {'grad cos':>9}")
    for s in settings:
        med = statistics.median(s.times)
        diff, cos = sound[s.name]
        print(f'{s.name:22} {med:8.3f} {base / med:8.2f}x {100 * diff:9.2f}% '
              f'{cos:9.4f}')


if __name__ == '__main__':
    with contextlib.suppress(KeyboardInterrupt):
        main()
