"""Draw training images beside their variants.

    # a run's selected images beside the variants it trained on
    python tools/variant_grid.py CONFIG --work-dir RUN --out grid.png
        [--rows 8] [--cell 160]
    # SDEdit at several strengths with given weights
    python tools/variant_grid.py CONFIG --weights DIR --out grid.png
        [--strengths 0.3,0.5,0.7] [--per-class 1] [--steps 100] [--seed 0]
        [--generator PixelSDEdit|LatentSDEdit]

With ``--work-dir``: rows are the run's selected samples with the highest
scores, each followed by its cached variants; detection boxes are drawn.
With ``--weights``: one training image per class (``--per-class``), then
one variant per strength; the variants are those the cache would hold
(same seeds).
"""
import argparse

from mmtada.utils.setup_env import setup_env  # first: before torchvision
from mmengine.config import Config, DictAction

from mmtada.apis import build_sample_reader, open_run
from mmtada.generators import variant_seed
from mmtada.registry import GENERATORS
from mmtada.visualization import (pick_per_class, save_png, selection_grid,
                                  variant_grid)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--work-dir', help='a TADA run: its variants')
    src.add_argument('--weights', help='diffusion weights: a sweep')
    p.add_argument('--out', required=True)
    p.add_argument('--rows', type=int, default=8)
    p.add_argument('--cell', type=int, default=None,
                   help='cell width in pixels (default 64; runs: 160)')
    p.add_argument('--generator', default='PixelSDEdit')
    p.add_argument('--strengths', default='0.3,0.5,0.7')
    p.add_argument('--per-class', type=int, default=1)
    p.add_argument('--steps', type=int, default=100)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def run_rows(cfg, args):
    """The run's selected samples with the highest scores and their
    variants."""
    run = open_run(cfg, args.work_dir)
    if not run.selection.indices:
        raise SystemExit(f'the run in {args.work_dir} selected nothing.')
    grid = selection_grid(run.reader, run.cache, run.selection, run.pairs,
                          args.rows, args.cell)
    return grid, min(args.rows, len(run.selection.indices))


def sweep_rows(cfg, args):
    reader = build_sample_reader(cfg)
    idx = pick_per_class(reader.gt_labels(), args.per_class)
    sources = [reader.source_image(i) for i in idx]
    ann = [reader.source_annotation(i) for i in idx]
    seeds = [variant_seed(args.seed, i, 0) for i in idx]
    strengths = [float(s) for s in args.strengths.split(',')]
    columns = []
    for s in strengths:
        gen = GENERATORS.build(dict(
            type=args.generator, weights=args.weights, strength=s,
            num_inference_steps=args.steps))
        columns.append(gen.generate(sources, ann, seeds))
    rows = [[src] + [col[k] for col in columns]
            for k, src in enumerate(sources)]
    return variant_grid(rows, args.cell or 64, titles=['real'] + [
        f's={s}' for s in strengths]), len(rows)


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    grid, n = run_rows(cfg, args) if args.work_dir else sweep_rows(cfg, args)
    save_png(args.out, grid)
    print(f'wrote {args.out}: {n} rows')


if __name__ == '__main__':
    main()
