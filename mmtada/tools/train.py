"""Train an mmpretrain or mmdet config, with TADA when the config has it.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]]
        [--amp] [--auto-scale-lr] [--tada-mode in_run|restart]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os
import os.path as osp

from mmtada.utils.setup_env import setup_env  # first: before torchvision
from mmengine.config import Config, DictAction

from mmtada.apis import find_lag_hook, train, without_tada
from mmtada.apis.toolbox import LOADERS, with_loader_defaults
from mmtada.utils.process_group import end_process_group


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model (TADA)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from PATH, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision training')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the actual total batch size')
    parser.add_argument('--no-pin-memory', action='store_true')
    parser.add_argument('--no-persistent-workers', action='store_true')
    parser.add_argument(
        '--tada-mode', choices=['in_run', 'restart'],
        help="override LearningLagHook's mode: continue after selection "
        '(in_run) or retrain from scratch on the augmented data (restart)')
    parser.add_argument(
        '--baseline', action='store_true',
        help='train the same config without TADA (no hook, the wrapped '
        'dataset alone), for comparisons')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings, key=value (see mmengine DictAction)')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    with_loader_defaults(cfg)
    for field in LOADERS:
        if cfg.get(field, None) is None:
            continue
        if args.no_pin_memory:
            cfg[field].pin_memory = False
        if args.no_persistent_workers:
            cfg[field].persistent_workers = False
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    for field in LOADERS:
        if cfg.get(field) and not cfg[field].get('num_workers'):
            cfg[field].persistent_workers = False  # torch needs workers
    if args.baseline:
        if args.tada_mode is not None:
            raise SystemExit('--baseline and --tada-mode exclude each other.')
        return without_tada(cfg)
    if args.tada_mode is not None:
        hook = find_lag_hook(cfg)
        if hook is None:
            raise SystemExit(
                '--tada-mode needs a config with mmtada.LearningLagHook in '
                'custom_hooks.')
        hook.mode = args.tada_mode
    return cfg


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    train(cfg)
    end_process_group()


if __name__ == '__main__':
    main()
