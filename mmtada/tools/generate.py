"""Make the variants of a selection ahead of training.

    python tools/generate.py CONFIG --selection SELECTION.json
        [--work-dir DIR] [--shard I/N] [--launcher none|pytorch|slurm]
        [--cfg-options k=v ...]

Uses the config's LearningLagHook settings (generator, num_variants, seed,
cache_dir) and writes where that training run will look: the hook's
``cache_dir`` or ``<work_dir>/tada/variants``, so the run then generates
nothing but what its variant filter remakes (with a strength ladder, each
variant is made here at the ladder's first, highest strength). Work is
split across the ranks of a launched job (``--launcher pytorch`` under
torchrun) or between independent jobs (``--shard 0/4`` ...
``--shard 3/4``), each variant made once; what is already cached is
skipped, so a rerun picks up where a stopped run ended.
"""
import argparse
import os.path as osp

from mmtada.utils.setup_env import setup_env  # first: before torchvision
from mmengine.config import Config, DictAction
from mmengine.dist import init_dist, is_main_process
from mmengine.logging import MMLogger

from mmtada.apis import open_run
from mmtada.generators import make_variants
from mmtada.utils.process_group import end_process_group


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--selection', required=True, help='selection.json')
    p.add_argument('--work-dir', help='the training run\'s work dir')
    p.add_argument('--shard', help='I/N: this job makes share I of N')
    p.add_argument('--launcher', default='none',
                   choices=['none', 'pytorch', 'slurm', 'mpi'])
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.launcher != 'none':
        init_dist(args.launcher, backend=cfg.get('env_cfg', {}).get(
            'dist_cfg', {}).get('backend', 'nccl'))
    shard = None
    if args.shard:
        i, n = (int(v) for v in args.shard.split('/'))
        if not 0 <= i < n:
            raise SystemExit('--shard must be I/N with 0 <= I < N.')
        shard = (i, n)
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    MMLogger.get_instance('mmtada', log_level='INFO')
    try:
        run = open_run(cfg, work_dir, args.selection, variants=False)
    except ValueError as e:
        raise SystemExit(str(e))
    hook, indices = run.hook, run.selection.indices
    made = make_variants(hook.generator_cfg, run.reader, indices,
                         hook.num_variants, hook.seed, run.cache_root,
                         shard=shard, ladder=run.ladder,
                         codec=hook.codec(run.reader),
                         backend_args=hook.backend_args)
    if is_main_process():
        out = made.counts
        rate = out['generated'] / max(out['seconds'], 1e-9)
        print(f"{out['total']} variants of {len(indices)} samples: "
              f"{out['generated']} made ({rate:.1f} img/s), "
              f"{out['reused']} already cached; cache {made.cache.dir}")
    end_process_group()


if __name__ == '__main__':
    main()
