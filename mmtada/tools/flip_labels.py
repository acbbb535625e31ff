"""Flip a seeded fraction of the labels of an mmpretrain annotation file:
planted label noise, to measure what a selection does with it.

    python tools/flip_labels.py ANN_FILE OUT_FILE [--fraction 0.1]
        [--seed 0] [--num-classes N]

``ANN_FILE`` holds ``relative/path label`` lines (``CustomDataset``).
Each chosen sample gets a uniformly drawn other label. Writes OUT_FILE
(same lines, flipped labels) and OUT_FILE.flipped.json: the flipped line
numbers (= base sample indices) with their true and written labels.
Point a config at it with
``--cfg-options train_dataloader.dataset.dataset.ann_file=OUT_FILE``
(an absolute path; the images stay where the data root says).
"""
import argparse

import numpy as np

from mmtada.utils import atomic_write_bytes, atomic_write_json


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('ann_file')
    p.add_argument('out_file')
    p.add_argument('--fraction', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-classes', type=int)
    args = p.parse_args()
    with open(args.ann_file) as f:
        lines = [ln.rsplit(maxsplit=1) for ln in f if ln.strip()]
    labels = np.array([int(lab) for _, lab in lines])
    num_classes = args.num_classes or int(labels.max()) + 1
    rng = np.random.RandomState(args.seed)
    chosen = np.sort(rng.choice(len(lines), int(round(
        args.fraction * len(lines))), replace=False))
    written = labels.copy()
    for i in chosen:
        written[i] = rng.choice([c for c in range(num_classes)
                                 if c != labels[i]])
    atomic_write_bytes(args.out_file, ''.join(
        f'{path} {lab}\n' for (path, _), lab in zip(lines, written)).encode())
    atomic_write_json(args.out_file + '.flipped.json', dict(
        seed=args.seed, fraction=args.fraction, indices=chosen.tolist(),
        true=labels[chosen].tolist(), written=written[chosen].tolist()))
    print(f'flipped {len(chosen)} of {len(lines)} labels -> {args.out_file}')


if __name__ == '__main__':
    main()
