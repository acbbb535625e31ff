"""Test a checkpoint of an mmpretrain or mmdet config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os
import os.path as osp

from mmtada.utils.setup_env import setup_env  # first: before torchvision
from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults

from mmtada.apis import build_runner, is_lag_hook
from mmtada.utils.process_group import end_process_group


def parse_args():
    parser = argparse.ArgumentParser(description='Test a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument('--out', help='dump the predictions to this .pkl')
    parser.add_argument('--amp', action='store_true',
                        help='test with automatic mixed precision')
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


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    # Testing needs no TADA state: drop the hook (its train-time checks).
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks') or [] if not is_lag_hook(h)
    ]
    runner = build_runner(cfg)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit('--out must be a .pkl or .pickle file.')
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    print(metrics)
    end_process_group()


if __name__ == '__main__':
    main()
