"""Training-step time with and without LearningLagHook, side by side.

Builds the model of a TADA config (default: mmpretrain's ResNet-18 CIFAR
recipe, ``configs/tada_resnet18_cifar10.py``) and trains it with the real
mmengine Runner on the bundled digits at 32x32, in three arms, interleaved
round-robin over ``--reps`` repetitions so drift hits all arms alike:

- ``plain``: the dataset alone, no hook;
- ``wrapper``: inside ``TADADataset``, no hook;
- ``hook``: wrapper + ``LearningLagHook`` recording every iteration
  (``select_epoch`` = the end, so the recording path runs throughout).

Step time is measured from the first ``before_train_iter`` hook to the last
``after_train_iter`` hook (data loading excluded; the model step and every
hook's per-iteration work included). Prints medians and ratios, and, since
step times drift by more than the hook costs on a shared CPU, also the time
spent inside ``LearningLagHook.after_train_iter`` itself, against the step.

    python tools/benchmark/hook_overhead.py [--iters 40] [--reps 3]

On a GPU, mmpretrain's ResNet-50 CIFAR-100 recipe on CIFAR-100 files
(``mmtada.testing.cifar_files.write_cifar100`` writes random ones) with
mixed precision, as ``tools/benchmark/gpu_check.sh`` runs it:

    python tools/benchmark/hook_overhead.py \
        --config configs/tada_resnet50_cifar100.py \
        --cifar100 data/cifar100 --amp --json overhead.json
"""
import argparse
import copy
import json
import os.path as osp
import statistics
import tempfile
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmtada.apis import without_tada

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class StepStart(Hook):
    priority = 'HIGHEST'

    def __init__(self, clock):
        self.clock = clock

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.clock['t0'] = time.perf_counter()


class StepStop(Hook):
    priority = 'LOWEST'

    def __init__(self, clock):
        self.clock = clock

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.clock['times'].append(time.perf_counter() - self.clock['t0'])


def timed_call(fn, sink):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        sink.append(time.perf_counter() - start)
        return out
    return wrapper


def arm_config(base: Config, arm: str, work_dir: str, samples: int,
               cifar100: str = None, amp: bool = False) -> Config:
    cfg = copy.deepcopy(base)
    cfg.work_dir = work_dir
    cfg.train_dataloader.dataset.dataset = dict(
        type='mmtada.Digits', split='train', size=32, indices=samples,
        pipeline=cfg.train_dataloader.dataset.dataset.pipeline)
    if cifar100:  # the CIFAR-100 files, read by mmpretrain's own loader
        from mmtada.testing import cifar_files  # noqa: F401  (registers it)
        cfg.train_dataloader.dataset.dataset.update(
            type='UncheckedCIFAR100', data_root=cifar100, download=False)
        del cfg.train_dataloader.dataset.dataset['size']
    if amp:  # as tools/train.py --amp
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    cfg.train_dataloader.dataset.num_slots = 0
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10000)
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0)
    for hook in cfg.custom_hooks:
        hook.select_epoch = 1
        if 'LearningLagHook' in hook.type:  # the steps are timed, not this
            hook.generator = dict(type='mmtada.Upsample')
    if arm == 'plain':
        return without_tada(cfg)
    if arm == 'wrapper':
        cfg.custom_hooks = [h for h in cfg.custom_hooks
                            if 'LearningLagHook' not in h.type]
    return cfg


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(
        REPO, 'configs', 'tada_resnet18_cifar10.py'))
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--cifar100', metavar='DATA_ROOT',
                        help='train on the CIFAR-100 files under DATA_ROOT '
                        'instead of the bundled digits')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (AmpOptimWrapper; needs CUDA)')
    parser.add_argument('--json', help='also write the results to this file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value')
    args = parser.parse_args()
    base = Config.fromfile(args.config)
    if args.cfg_options:
        base.merge_from_dict(args.cfg_options)
    batch = base.train_dataloader.batch_size
    samples = (args.iters + args.warmup) * batch
    arms = ['plain', 'wrapper', 'hook']
    times = {a: [] for a in arms}
    inside = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            order = arms[rep % 3:] + arms[:rep % 3]
            for arm in order:
                clock = dict(times=[])
                runner = Runner.from_cfg(arm_config(
                    base, arm, osp.join(tmp, f'{arm}{rep}'), samples,
                    args.cifar100, args.amp))
                runner.register_hook(StepStart(clock))
                runner.register_hook(StepStop(clock))
                for hook in runner.hooks:
                    if type(hook).__name__ == 'LearningLagHook':
                        hook.after_train_iter = timed_call(
                            hook.after_train_iter, inside)
                runner.train()
                times[arm] += clock['times'][args.warmup:]
                step = statistics.median(clock['times'][args.warmup:])
                print(f'rep {rep} {arm:8s} median step {1e3 * step:.1f} ms',
                      flush=True)
    med = {a: statistics.median(times[a]) for a in arms}
    print(f'\nconfig: {osp.basename(args.config)}, batch {batch}, '
          f'{args.iters} timed steps x {args.reps} reps per arm')
    print('| arm | median step (ms) | mean step (ms) | vs plain |')
    print('| --- | --- | --- | --- |')
    for a in arms:
        print(f'| {a} | {1e3 * med[a]:.1f} | '
              f'{1e3 * statistics.mean(times[a]):.1f} | '
              f'{med[a] / med["plain"]:.4f} |')
    print(f'\nhook overhead (hook / wrapper, medians): '
          f'{100 * (med["hook"] / med["wrapper"] - 1):+.2f}%')
    per_iter = statistics.median(inside)
    print(f'time inside LearningLagHook.after_train_iter: '
          f'{1e3 * per_iter:.3f} ms per step = '
          f'{100 * per_iter / med["wrapper"]:.3f}% of the step')
    if args.json:
        import torch
        with open(args.json, 'w') as f:
            json.dump(dict(
                config=osp.basename(args.config), batch=batch,
                iters=args.iters, reps=args.reps, amp=args.amp,
                data='cifar100' if args.cifar100 else 'digits',
                device=torch.cuda.get_device_name()
                if torch.cuda.is_available() else 'CPU',
                median_step_ms={a: 1e3 * med[a] for a in arms},
                mean_step_ms={a: 1e3 * statistics.mean(times[a])
                              for a in arms},
                hook_overhead_pct=100 * (med['hook'] / med['wrapper'] - 1),
                inside_hook_ms=1e3 * per_iter,
                inside_hook_pct=100 * per_iter / med['wrapper']), f,
                indent=1)


if __name__ == '__main__':
    main()
