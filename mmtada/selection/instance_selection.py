"""Select detection images through their lagging instances."""
from typing import Dict

import torch

from .instance_index import InstanceIndex
from .selection import Selection


def select_images(rule, rule_name: str, stats: Dict[str, torch.Tensor],
                  index: InstanceIndex, classes, epoch: int,
                  dataset: str = '', aggregate: str = 'max',
                  min_instances: int = 1) -> Selection:
    """Run ``rule`` on the instances, select the images that hold at least
    ``min_instances`` selected instances, and record both levels.

    ``stats`` are instance-level (as :meth:`LagStats.latest` gives them
    over :class:`InstanceIndex` numbers). Each image's score is the
    ``aggregate`` of its instances' rule scores. With
    ``rule='misclassified'`` (alias ``'unlearned'``) an image is selected
    when any of its instances was not learned at the last probe.
    """
    mask = rule.select(stats) & stats['seen']
    score = rule.score(stats).double()
    chosen = index.count_per_image(mask) >= max(1, int(min_instances))
    names = list(classes) if classes else [
        str(c) for c in range(int(index.labels.max()) + 1)]
    labels = index.labels
    counts = torch.bincount(labels[mask], minlength=len(names))
    totals = torch.bincount(labels, minlength=len(names))
    learned = stats['correct']
    return Selection(
        rule=rule_name,
        epoch=int(epoch),
        indices=torch.nonzero(chosen).squeeze(1).tolist(),
        num_samples=index.num_images,
        per_class_counts={n: int(v) for n, v in zip(names, counts)},
        per_class_totals={n: int(v) for n, v in zip(names, totals)},
        scores=index.aggregate(score, aggregate).tolist(),
        dataset=dataset,
        rule_cfg=dict(rule.config(), type=rule_name, aggregate=aggregate,
                      min_instances=int(min_instances)),
        instances=dict(
            image=index.image.tolist(),
            position=index.position.tolist(),
            label=labels.tolist(),
            learned=[None if v != v else round(float(v), 6)
                     for v in learned.tolist()],
            score=[None if v != v else round(v, 6) for v in score.tolist()],
            selected=mask.tolist()))
