"""Draw training images beside their SDEdit variants at several strengths.

    python tools/variant_grid.py CONFIG --weights DIR --out grid.png
        [--strengths 0.3,0.5,0.7] [--per-class 1] [--steps 100] [--seed 0]
        [--generator PixelSDEdit|LatentSDEdit]

Rows: one training image per class (``--per-class``), then one variant per
strength; the variants are those the cache would hold (same seeds).
"""
import argparse

import mmtada  # noqa: F401  (first: applies the compatibility fixes)
from mmengine.config import Config, DictAction

from mmtada.apis import build_base_dataset
from mmtada.generators import variant_seed
from mmtada.registry import GENERATORS
from mmtada.visualization import pick_per_class, save_png, variant_grid


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--weights', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--generator', default='PixelSDEdit')
    p.add_argument('--strengths', default='0.3,0.5,0.7')
    p.add_argument('--per-class', type=int, default=1)
    p.add_argument('--steps', type=int, default=100)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    dataset = build_base_dataset(cfg)
    labels = dataset.base_gt_labels()
    classes = dataset.CLASSES or [str(c) for c in range(labels.max() + 1)]
    idx = pick_per_class(labels, args.per_class)
    sources = [dataset.source_image(i) for i in idx]
    ann = [dict(gt_label=int(labels[i]), class_name=classes[labels[i]])
           for i in idx]
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
    save_png(args.out, variant_grid(
        rows, titles=['real'] + [f's={s}' for s in strengths]))
    print(f'wrote {args.out}: {len(rows)} images x {len(strengths)} '
          'strengths')


if __name__ == '__main__':
    main()
