"""Run TADA against its controls with the same schedule and seeds.

    python tools/ablate.py CONFIG --seeds 3 [--work-dir DIR]
        [--arms baseline,baseline_steps,useful,tada,random,all]
        [--seeds-of all=1,random=1] [--metric NAME] [--cfg-options k=v ...]

Arms (``randomness.seed`` = 0 .. seeds-1 in each, or fewer for the arms
``--seeds-of`` names; the config's schedule; k its hook's num_variants):

  baseline        the real data alone
  baseline_steps  the real data alone, for as many steps as TADA (the
                  wrapper with TADA's slots, filled with real draws)
  useful          the selected samples upsampled: exact copies (USEFUL)
  useful_k2       the same with k = 2
  tada            the config's generator (and variant filter) on the
                  selected samples (TADA)
  tada_k2         the same with k = 2
  tada_nofilter   TADA without the variant filter
  tada_ladder     TADA, its filter walking --ladder (default 0.5,0.35,0.2)
  random          the generator on a random subset of TADA's size
  all             the generator on every training sample

TADA runs first in each seed: baseline_steps and random take its size.
With the hook's ``mode='restart'`` (the paper's protocol) every arm first
selects on the real data, then trains from scratch with slots sized to its
selection (selected x k), so each arm sees each of its variants once an
epoch.

Each run is ``tools/train.py`` in its own process in ``DIR/<arm>/seed<s>``
and ends with ``result.json``. Rerunning the command skips finished runs
and resumes an interrupted one from its last checkpoint. The diffusion
arms share one variant cache (``DIR/cache``). Writes ``DIR/ablation.md``
and ``DIR/ablation.csv``: the metric's mean ± std, variants per run,
generation seconds per run and training seconds per run.
"""
import argparse
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
from mmengine.config import Config, DictAction

from mmtada.apis.ablation import (ARMS, LADDER, NEEDS_TADA, arm_config,
                                  summarize, table_csv, table_markdown)
from mmtada.utils import RunLayout, atomic_write_bytes, atomic_write_json
from mmtada.utils.run_scalars import divergence, last_value, read_scalars

TRAIN = osp.join(osp.dirname(osp.abspath(__file__)), 'train.py')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--work-dir')
    p.add_argument('--arms', default=','.join(ARMS))
    p.add_argument('--seeds-of', default='', metavar='ARM=N,...',
                   help='fewer seeds for some arms (the secondary ones), '
                   'e.g. all=1,random=1')
    p.add_argument('--only-seeds', metavar='S,...',
                   help='run these of the seeds (two commands on two '
                   'machines or cores: 0,2 and 1); the table holds what '
                   'this command saw')
    p.add_argument('--ladder', default=','.join(map(str, LADDER)),
                   help='the tada_ladder arm\'s strengths, highest first')
    p.add_argument('--metric', help='default: accuracy/top1 (mmpretrain), '
                   'coco/bbox_mAP (mmdet)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args()
    args.seeds_of = {a: int(n) for a, n in (
        x.split('=') for x in args.seeds_of.split(',') if x)}
    return args


def run_one(cfg, run_dir, metric):
    """Train one arm/seed (resuming if it was interrupted); its result."""
    done = osp.join(run_dir, 'result.json')
    if osp.exists(done):
        with open(done) as f:
            return json.load(f), False
    os.makedirs(run_dir, exist_ok=True)
    config = osp.join(run_dir, 'config.py')
    cfg.dump(config)
    spent_path = osp.join(run_dir, 'seconds.json')
    spent = json.load(open(spent_path))['seconds'] \
        if osp.exists(spent_path) else 0.0
    cmd = [sys.executable, TRAIN, config, '--work-dir', run_dir]
    if osp.exists(osp.join(run_dir, 'last_checkpoint')):
        cmd.append('--resume')
    start = time.perf_counter()
    with open(osp.join(run_dir, 'train.log'), 'a') as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            code = child.wait()
        finally:  # stopped (Ctrl-C, SIGTERM): no orphan keeps training
            if child.poll() is None:
                child.terminate()
                child.wait()
    spent += time.perf_counter() - start
    atomic_write_json(spent_path, dict(seconds=spent))
    if code:
        raise SystemExit(f'{" ".join(cmd)} failed ({code}); see '
                         f"{osp.join(run_dir, 'train.log')}. Rerun this "
                         'command to resume.')
    gen_path = RunLayout(run_dir).generation
    sel_path = RunLayout(run_dir).selection
    records = read_scalars(run_dir)
    result = dict(
        metric=last_value(records, metric), diverged=divergence(records),
        seconds=spent,
        generation=json.load(open(gen_path)) if osp.exists(gen_path)
        else None,
        selected=len(json.load(open(sel_path))['indices'])
        if osp.exists(sel_path) else None)
    atomic_write_json(done, result, indent=1)
    return result, True


def stop(signum, frame):
    raise SystemExit(f'stopped by signal {signum}; rerun to resume.')


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    signal.signal(signal.SIGTERM, stop)
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    root = args.work_dir or osp.join(
        'work_dirs', 'ablate_' + osp.splitext(osp.basename(args.config))[0])
    metric = args.metric or ('coco/bbox_mAP' if cfg.get('default_scope') ==
                             'mmdet' else 'accuracy/top1')
    arms = [a for a in args.arms.split(',') if a]
    bad = set(arms) - set(ARMS)
    if bad:
        raise SystemExit(f'unknown arms {sorted(bad)}: choose from {ARMS}.')
    if set(arms) & set(NEEDS_TADA) and 'tada' not in arms:
        arms.append('tada')  # the controls of TADA's size need it
    order = ['tada'] + [a for a in ARMS if a in arms and a != 'tada']
    cache = osp.join(root, 'cache')
    results = []
    seeds = range(args.seeds) if not args.only_seeds else [
        int(x) for x in args.only_seeds.split(',')]
    for seed in seeds:
        tada_size = None
        for arm in [a for a in order if a in arms]:
            if seed >= args.seeds_of.get(arm, args.seeds):
                continue
            run_dir = osp.join(root, arm, f'seed{seed}')
            arm_cfg = arm_config(cfg, arm, seed, cache, tada_size,
                                 [float(v) for v in args.ladder.split(',')])
            result, ran = run_one(arm_cfg, run_dir, metric)
            if arm == 'tada':
                tada_size = result['selected']
            results.append(dict(result, arm=arm, seed=seed))
            note = f" DIVERGED: {result['diverged']}" \
                if result.get('diverged') else ''
            print(f"{'ran' if ran else 'done'} {arm} seed {seed}: {metric} "
                  f"{result['metric']} ({result['seconds']:.0f}s){note}",
                  flush=True)
    rows = summarize(results)
    md = table_markdown(rows, metric)
    atomic_write_bytes(osp.join(root, 'ablation.md'), md.encode())
    atomic_write_bytes(osp.join(root, 'ablation.csv'),
                       table_csv(rows).encode())
    print(md)


if __name__ == '__main__':
    main()
