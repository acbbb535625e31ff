"""What the selection rules and the label-noise guard select, from the
statistics that TADA runs recorded (``tada/trajectories.npz``).

    python tools/selection_study.py RUN [RUN ...] [--flipped FLIPPED.json]
        [--quantiles 0.99,0.5]

For each run (its selection epoch) and each rule (k-means on probs and on
logits, loss quantile 0.35, misclassified), re-run on the run's recorded
statistics: the fraction selected, its range over the classes and the
overlap (Jaccard) with the run's own selection. With ``--flipped`` (what
tools/flip_labels.py wrote): the recall of the flipped samples in the
selection, their share of it, and the AUROC of the rule's score (loss)
and of the AUM for flipped against clean samples, without the guard and
with ``exclude='aum'`` at each ``--quantiles`` value. Prints Markdown
tables.
"""
import argparse
import json
import os.path as osp

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import numpy as np
import torch

from mmtada.selection import (KMeansRule, LossQuantileRule, MisclassifiedRule,
                              Selection)
from mmtada.selection.label_noise import flag_aum
from mmtada.utils import RunLayout

RULES = dict(kmeans=lambda: KMeansRule(),
             kmeans_logits=lambda: KMeansRule(features='logits'),
             loss_quantile=lambda: LossQuantileRule(0.35),
             misclassified=lambda: MisclassifiedRule())


def load_stats(run: str):
    """The run's selection and its last epoch's statistics, as the rules
    take them."""
    layout = RunLayout(run)
    traj = np.load(layout.trajectories)
    selection = Selection.load(layout.selection)
    t = lambda x: torch.from_numpy(np.asarray(x))  # noqa: E731
    loss = t(traj['loss'][-1])
    stats = dict(loss=loss, correct=t(traj['correct'][-1]),
                 probs=t(traj['probs']), labels=t(traj['labels']).long(),
                 seen=~torch.isnan(loss),
                 aum=t(np.nanmean(traj['margin'], 0)),
                 aum_fake=t(np.nanmean(traj['fake_margin'], 0)))
    return selection, stats


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """The probability that a positive scores above a negative (ties
    half)."""
    from scipy.stats import rankdata
    ranks = rankdata(score)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) /
                 (n_pos * n_neg))


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('runs', nargs='+')
    p.add_argument('--flipped')
    p.add_argument('--quantiles', default='0.99,0.5,0.1')
    args = p.parse_args()
    flipped = None
    if args.flipped:
        with open(args.flipped) as f:
            flipped = np.array(json.load(f)['indices'])
    quantiles = [float(q) for q in args.quantiles.split(',')]
    print('| run | epoch | rule | selected | per class (min-max) | overlap '
          'with the run\'s |\n| --- | --- | --- | --- | --- | --- |')
    noise = []
    for run in args.runs:
        selection, stats = load_stats(run)
        mine = np.zeros(len(stats['labels']), bool)
        mine[selection.indices] = True
        labels = stats['labels'].numpy()
        when = f"{selection.epoch}" + (
            f" (auto, {selection.auto['reason']})" if selection.auto else '')
        for name, make in RULES.items():
            mask = (make().select(stats) & stats['seen']).numpy()
            fracs = [mask[labels == c].mean() for c in np.unique(labels)]
            jac = (mask & mine).sum() / max((mask | mine).sum(), 1)
            print(f'| {osp.basename(run)} | {when} | {name} | '
                  f'{100 * mask.mean():.1f}% | {100 * min(fracs):.0f}-'
                  f'{100 * max(fracs):.0f}% | {jac:.2f} |')
            if flipped is None:
                continue
            bad = np.zeros(len(mask), bool)
            bad[flipped] = True
            score = make().score(stats).numpy()
            rows = [('none', mask)] + [
                (f'aum q={q}', mask & ~flag_aum(stats, 'auto', q).numpy())
                for q in quantiles]
            for guard, sel in rows:
                noise.append((osp.basename(run), when, name, guard,
                              (sel & bad).sum() / bad.sum(),
                              (sel & bad).sum() / max(sel.sum(), 1),
                              100 * sel.mean(),
                              auroc(np.nan_to_num(score, nan=-1e9), bad),
                              auroc(-stats['aum'].numpy(), bad)))
    if noise:
        print(f'\nflipped: {len(flipped)} of {len(labels)} labels '
              f'({100 * len(flipped) / len(labels):.0f}%)\n')
        print('| run | epoch | rule | guard | recall of flipped | flipped '
              'share of the selection | selected | AUROC score | AUROC '
              '-AUM |\n' + '|' + ' --- |' * 9)
        for r in noise:
            print(f'| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | '
                  f'{r[5]:.3f} | {r[6]:.1f}% | {r[7]:.3f} | {r[8]:.3f} |')


if __name__ == '__main__':
    main()
