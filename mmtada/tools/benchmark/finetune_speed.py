"""Speed and memory of tools/finetune_diffusion.py's training step against
the loop of diffusers' ``examples/text_to_image/train_text_to_image_lora.py``
on the same Stable-Diffusion-shaped model and the same images.

    python tools/benchmark/finetune_speed.py [--size tiny|small|sd15]
        [--batch-size 8] [--steps 10] [--rounds 3] [--device cpu|cuda]
        [--precision fp32|bf16] [--arms ours,diffusers] [--out FILE.json]

Ours: a step of the tool as it runs (``finetune_batches``: each image read
from the dataset, resized, flipped, prompted, by ``--num-workers``
dataloader workers as the tool's default; then ``train_step``).
Reference: the example's step, written out (VAE sample, noise, timesteps,
``add_noise``, text encoder, UNet, MSE, backward, clip, AdamW, lr
scheduler), on the same images preprocessed once into tensors and token
ids (its dataloader's work is not timed: the comparison favours it). Both:
the same LoRA (rank 4, alpha 4, gaussian init, ``to_k/q/v/out.0``), AdamW
at 1e-4, ``--precision`` (autocast; fp32 default). ``--size sd15``: the
SD-1.5 architecture with random weights at 512px (for a GPU: the GPU
check runs ``--arms ours`` with it). Each arm runs in its own
process (so its peak resident memory is its own), the arms alternate over
``--rounds``; printed: median steps/s, the ratio ours / reference, and the
peak memory over what the loaded model held.
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import torch

SIZES = dict(tiny=dict(resolution=32, unet_channels=(16, 32), text_width=32),
             small=dict(resolution=64, unet_channels=(64, 128),
                        text_width=128), sd15=None)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--size', choices=sorted(SIZES), default='small')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--steps', type=int, default=10, help='timed per round')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--device', default='cpu')
    p.add_argument('--precision', choices=['fp32', 'bf16'], default='fp32',
                   help='autocast of both arms\' forward')
    p.add_argument('--arms', default='ours,diffusers')
    p.add_argument('--num-workers', type=int, default=2,
                   help='ours: dataloader workers (the tool\'s default)')
    p.add_argument('--out', help='write the figures as JSON here')
    p.add_argument('--arm', choices=['ours', 'diffusers'],
                   help=argparse.SUPPRESS)  # a child process's arm
    p.add_argument('--weights', help=argparse.SUPPRESS)
    return p.parse_args()


def digits_reader():
    """The shipped digits config's training set (scikit-learn's digits,
    upscaled by the reader as users' images are)."""
    from mmengine.config import Config

    from mmtada import config_path
    from mmtada.apis import build_sample_reader
    return build_sample_reader(Config.fromfile(
        config_path('tada_resnet18_digits.py')))


def peak_mib() -> float:
    """Peak memory so far: the CUDA allocator's on a GPU, else resident."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(args, reader):
    from mmtada.generators.latent_finetuning import (FinetuneSamples,
                                                     LatentFinetuner,
                                                     finetune_batches,
                                                     train_step)
    classes = [str(c) for c in reader.classes]
    tuner = LatentFinetuner(args.weights, classes, 'lora', rank=4,
                            device=args.device)
    opt = torch.optim.AdamW(tuner.param_groups(1e-4, 0), weight_decay=1e-2)
    scaler = torch.amp.GradScaler(tuner.device.type, enabled=False)

    samples = FinetuneSamples(reader, tuner.prompts, tuner.resolution, 0,
                              args.batch_size)
    batches = finetune_batches(samples, 0, 2 + args.steps,
                               num_workers=args.num_workers)

    def step(i):
        train_step(tuner, opt, scaler, next(batches), args.batch_size,
                   autocast(args))
    return step


def autocast(args):
    return torch.bfloat16 if args.precision == 'bf16' else None


def run_diffusers(args, reader):
    """The example's step (its argument defaults: epsilon, no SNR
    weighting, no noise offset, max_grad_norm 1, constant lr)."""
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler
    from peft import LoraConfig

    from mmtada.generators.image_io import to_model
    from mmtada.generators.latent_finetuning import load_sd_pipeline
    pipe = load_sd_pipeline(args.weights)
    vae, unet, text_encoder = pipe.vae, pipe.unet, pipe.text_encoder
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    for m in (vae, unet, text_encoder):
        m.requires_grad_(False).to(args.device)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4,
                                init_lora_weights='gaussian',
                                target_modules=['to_k', 'to_q', 'to_v',
                                                'to_out.0']))
    lora_layers = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(lora_layers, lr=1e-4, weight_decay=1e-2)
    lr_scheduler = get_scheduler('constant', optimizer=optimizer)
    res = unet.config.sample_size * 2**(
        len(vae.config.block_out_channels) - 1)
    names = reader.classes
    n = len(reader)
    # the example's dataloader output, made once: not timed
    pixel_values = to_model([reader.source_image(i) for i in range(n)],
                            res, args.device, torch.float32)
    input_ids = pipe.tokenizer(
        [f'a photo of a {names[reader.source_annotation(i)["gt_label"]]}'
         for i in range(n)], padding='max_length', truncation=True,
        max_length=pipe.tokenizer.model_max_length,
        return_tensors='pt').input_ids.to(args.device)
    unet.train()
    dtype = autocast(args)

    def step(i):
        rows = (torch.arange(i * args.batch_size,
                             (i + 1) * args.batch_size) % n).to(args.device)
        latents = vae.encode(pixel_values[rows]).latent_dist.sample()
        latents = latents * vae.config.scaling_factor
        noise = torch.randn_like(latents)
        bsz = latents.shape[0]
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (bsz, ),
            device=latents.device).long()
        noisy_latents = noise_scheduler.add_noise(latents, noise, timesteps)
        with torch.autocast(latents.device.type, dtype,
                            enabled=dtype is not None):
            encoder_hidden_states = text_encoder(input_ids[rows])[0]
            target = noise
            model_pred = unet(noisy_latents, timesteps,
                              encoder_hidden_states).sample
        loss = F.mse_loss(model_pred.float(), target.float(),
                          reduction='mean')
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora_layers, 1.0)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad()
    return step


def sync(args):
    if args.device.startswith('cuda'):
        torch.cuda.synchronize()


def child(args):
    """One arm in this process: warm up, time ``--steps`` steps, print a
    JSON line."""
    torch.manual_seed(0)
    reader = digits_reader()
    make = run_ours if args.arm == 'ours' else run_diffusers
    step = make(args, reader)
    loaded = peak_mib()
    for i in range(2):
        step(i)
    sync(args)
    start = time.perf_counter()
    for i in range(2, 2 + args.steps):
        step(i)
    sync(args)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(steps_per_s=args.steps / seconds,
                          peak_mib=peak_mib(), loaded_mib=loaded,
                          cuda=args.device.startswith('cuda'))))


def main():
    setup_env()
    args = parse_args()
    if args.arm:
        return child(args)
    from mmtada.testing import save_tiny_latent_model
    with tempfile.TemporaryDirectory() as tmp:
        if args.size == 'sd15':
            from generation import save_real_latent  # this folder's
            weights = save_real_latent(tmp)
        else:
            weights = save_tiny_latent_model(tmp, **SIZES[args.size])
        runs = {arm: [] for arm in args.arms.split(',')}
        for _ in range(args.rounds):
            for arm in runs:
                out = subprocess.run(
                    [sys.executable, osp.abspath(__file__), '--arm', arm,
                     '--weights', weights, '--size', args.size,
                     '--batch-size', str(args.batch_size), '--steps',
                     str(args.steps), '--device', args.device,
                     '--num-workers', str(args.num_workers),
                     '--precision', args.precision], check=True, text=True,
                    stdout=subprocess.PIPE, env=dict(os.environ))
                runs[arm].append(json.loads(out.stdout.strip().splitlines(
                )[-1]))
    result = dict(size=args.size, batch_size=args.batch_size,
                  steps=args.steps, rounds=args.rounds, device=args.device,
                  precision=args.precision,
                  threads=torch.get_num_threads(), arms={})
    for arm, rows in runs.items():
        result['arms'][arm] = dict(
            steps_per_s=statistics.median(r['steps_per_s'] for r in rows),
            all_steps_per_s=[round(r['steps_per_s'], 3) for r in rows],
            peak_mib=max(r['peak_mib'] for r in rows),
            training_mib=max(r['peak_mib'] - r['loaded_mib'] for r in rows))
    print(f"{args.size} SD-shaped model, batch {args.batch_size}, "
          f"{args.rounds} rounds x {args.steps} steps, {args.device}, "
          f"{args.precision}, {result['threads']} threads")
    unit = 'MiB (CUDA)' if args.device.startswith('cuda') else 'MiB'
    for arm, r in result['arms'].items():
        print(f"  {arm:<9} {r['steps_per_s']:.2f} steps/s "
              f"{r['all_steps_per_s']}, peak {r['peak_mib']:.0f} {unit} "
              f"(+{r['training_mib']:.0f} training)")
    if len(result['arms']) == 2:
        ours, ref = result['arms']['ours'], result['arms']['diffusers']
        result['ratio'] = ours['steps_per_s'] / ref['steps_per_s']
        print(f"  ours / diffusers' example: {result['ratio']:.2f}x")
    if args.out:
        from mmtada.utils import atomic_write_json
        atomic_write_json(args.out, result, indent=1)


if __name__ == '__main__':
    main()
