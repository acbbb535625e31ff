"""Adapt a pretrained Stable Diffusion model to a config's training set:
LoRA layers on the UNet's attention, a token per class, or both.

    python tools/finetune_diffusion.py CONFIG --weights SD_FOLDER_OR_HUB_ID
        --work-dir DIR [--method lora|tokens|both] [--rank 4]
        [--steps 1000 | --minutes M] [--batch-size 8] [--lr 1e-4]
        [--token-lr 5e-4] [--template 'a photo of a {}']
        [--precision auto|fp32|bf16|fp16] [--gradient-checkpointing]
        [--num-workers 2] [--resume] [--cfg-options k=v ...]
    torchrun --nproc_per_node 8 tools/finetune_diffusion.py ...   (or
    accelerate launch; each rank its share of every batch)

The data are the config's own training set (the dataset TADADataset wraps,
read as the generators read it, by ``--num-workers`` dataloader workers),
at the model's resolution: a
classification image with its class's prompt, a detection image whole
(letterboxed, as BoxPreservingSDEdit shows it) with the classes it holds.
``tokens`` learns one new token per class, initialised from the class
name's embedding (DA-Fusion's recipe); ``lora`` adds rank-``--rank`` LoRA
layers to the UNet's attention (peft, as diffusers does).

Writes ``DIR/adapter/`` in diffusers' formats, which any diffusers user
loads without mmtada (``pipe.load_lora_weights(DIR/adapter)``;
``pipe.load_textual_inversion(files)``, the files in
``adapter/adapter.json``), with ``prompts.json`` (the template using the
tokens); ``LatentSDEdit(lora=dict(path=DIR/adapter), tokens=DIR/adapter)``
uses it. ``DIR/train_state.pth`` (trained tensors, optimizer, step,
seconds) every ``--save-interval`` steps and at the end, and
``DIR/finetuning.json``; all written whole. ``--resume`` continues from
the state and, by the per-sample seeds, draws what an uninterrupted run
draws. ``--batch-size`` is the global batch: ranks split it and average
their gradients, so N processes learn what one does. Autocast: bf16 on
CUDA (``auto``; ``fp16`` with loss scaling), fp32 on CPU.
"""
import argparse
import os
import os.path as osp
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction

from mmtada.apis import build_sample_reader
from mmtada.generators.class_prompts import DEFAULT_TEMPLATE
from mmtada.generators.diffusion_weights import resolve_weights
from mmtada.generators.latent_finetuning import (METHODS, FinetuneSamples,
                                                 LatentFinetuner,
                                                 finetune_batches, train_step)
from mmtada.utils import atomic_path, atomic_write_json
from mmtada.utils.process_group import end_process_group


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--weights', required=True,
                   help='Stable Diffusion folder or hub id')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--method', choices=METHODS, default='lora')
    p.add_argument('--rank', type=int, default=4, help='LoRA rank')
    p.add_argument('--steps', type=int, default=1000)
    p.add_argument('--minutes', type=float,
                   help='wall-time budget (over resumed runs); ends and '
                   'saves at whichever of it and --steps comes first')
    p.add_argument('--batch-size', type=int, default=8,
                   help='global batch, split over the ranks')
    p.add_argument('--lr', type=float, default=1e-4, help='LoRA layers')
    p.add_argument('--token-lr', type=float, default=5e-4,
                   help='the class tokens')
    p.add_argument('--warmup', type=int, default=0)
    p.add_argument('--template', default=DEFAULT_TEMPLATE,
                   help='prompt template, {} the class word(s)')
    p.add_argument('--precision', choices=['auto', 'fp32', 'bf16', 'fp16'],
                   default='auto',
                   help='autocast; auto: bf16 on CUDA, fp32 on CPU')
    p.add_argument('--gradient-checkpointing', action='store_true')
    p.add_argument('--save-interval', type=int, default=500)
    p.add_argument('--num-workers', type=int, default=2,
                   help='dataloader workers reading the images')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='auto')
    p.add_argument('--allow-pickle', action='store_true',
                   help='also accept .bin weights')
    p.add_argument('--resume', action='store_true')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def autocast_dtype(precision: str, device: torch.device):
    if precision == 'auto':
        return torch.bfloat16 if device.type == 'cuda' else None
    return dict(fp32=None, bf16=torch.bfloat16,
                fp16=torch.float16)[precision]


def init_distributed(device_arg: str):
    """(rank, world, device): a process group from the launcher's
    environment (torchrun and ``accelerate launch`` both set it), gloo
    without CUDA."""
    world = int(os.environ.get('WORLD_SIZE', 1))
    cuda = torch.cuda.is_available() and device_arg in ('auto', 'cuda')
    if world > 1 and not dist.is_initialized():
        dist.init_process_group('nccl' if cuda else 'gloo')
    rank = dist.get_rank() if world > 1 else 0
    if device_arg != 'auto' and device_arg != 'cuda':
        device = torch.device(device_arg)
    elif cuda:
        local = int(os.environ.get('LOCAL_RANK', 0))
        torch.cuda.set_device(local)
        device = torch.device('cuda', local)
    else:
        device = torch.device('cpu')
    return rank, world, device


def main(argv=None):
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args(argv)
    from tqdm import tqdm
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    rank, world, device = init_distributed(args.device)
    if args.batch_size % world:
        raise SystemExit(f'--batch-size {args.batch_size} does not split '
                         f'over {world} ranks: give a multiple of {world}.')
    torch.manual_seed(args.seed)
    reader = build_sample_reader(cfg)
    classes = [str(c) for c in (reader.classes or [])]
    if not classes:
        raise SystemExit('the config\'s dataset names no classes '
                         '(metainfo classes): prompts need class names.')
    folder = resolve_weights(args.weights, args.allow_pickle)
    tuner = LatentFinetuner(folder, classes, args.method, args.rank,
                            args.template, device,
                            args.gradient_checkpointing, args.allow_pickle)
    dtype = autocast_dtype(args.precision, device)
    opt = torch.optim.AdamW(tuner.param_groups(args.lr, args.token_lr),
                            weight_decay=1e-2)
    base_lrs = [g['lr'] for g in opt.param_groups]
    scaler = torch.amp.GradScaler(device.type,
                                  enabled=dtype == torch.float16)
    os.makedirs(args.work_dir, exist_ok=True)
    state_path = osp.join(args.work_dir, 'train_state.pth')
    adapter = osp.join(args.work_dir, 'adapter')
    step, spent = 0, 0.0
    if args.resume and osp.exists(state_path):
        state = torch.load(state_path, map_location=device, weights_only=True)
        tuner.load_state_dict(state['trained'])
        opt.load_state_dict(state['optimizer'])
        scaler.load_state_dict(state['scaler'])
        step, spent = int(state['step']), float(state['seconds'])
        if rank == 0:
            print(f'resumed from step {step} ({spent / 60:.1f} min trained)')
    budget = args.minutes * 60 if args.minutes else float('inf')
    trainable = tuner.trainable()
    if rank == 0:
        n = sum(p.numel() for p in trainable)
        print(f'{len(reader)} images, {len(classes)} classes, '
              f'{tuner.resolution}px, {args.method} ({n / 1e6:.2f}M '
              f'trained values), {world} rank(s), {device}, '
              f"{dtype or 'fp32'}, global batch {args.batch_size}")

    def save():
        if rank != 0:
            return
        with atomic_path(state_path) as tmp:
            torch.save(dict(trained=tuner.state_dict(),
                            optimizer=opt.state_dict(),
                            scaler=scaler.state_dict(), step=step,
                            seconds=spent), tmp)
        tuner.save(adapter, steps=step, weights=str(args.weights))
        atomic_write_json(osp.join(args.work_dir, 'finetuning.json'), dict(
            vars(args), steps_done=step, seconds=round(spent, 1),
            resolution=tuner.resolution, ranks=world,
            autocast=str(dtype)), indent=1)

    bar = tqdm(total=args.steps, initial=step, unit='step',
               disable=rank != 0, smoothing=0.05)
    last = time.perf_counter()
    done = step >= args.steps or spent >= budget
    samples = FinetuneSamples(reader, tuner.prompts, tuner.resolution,
                              args.seed, args.batch_size)
    batches = iter(()) if done else finetune_batches(
        samples, step, args.steps, rank, world, args.num_workers)
    for batch in batches:
        for g, base in zip(opt.param_groups, base_lrs):
            g['lr'] = base * min(1.0, (step + 1) / max(args.warmup, 1))
        shown = train_step(tuner, opt, scaler, batch, args.batch_size,
                           dtype)
        now = time.perf_counter()
        spent += now - last
        last = now
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f'{shown.item():.4f}')
        done = step >= args.steps or spent >= budget
        if world > 1 and budget < float('inf'):  # rank 0's clock decides
            flag = torch.tensor([float(done)], device=device)
            dist.broadcast(flag, 0)
            done = bool(flag.item())
        if step % args.save_interval == 0 or done:
            save()
            last = time.perf_counter()  # saving is not training
        if done:
            break
    bar.close()
    if rank == 0 and not osp.exists(adapter):
        save()
    if rank == 0:
        print(f'saved {adapter} after {step} steps ({spent / 60:.1f} min)')
    end_process_group()


if __name__ == '__main__':
    main()
