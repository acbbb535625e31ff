"""Select detection images through their lagging instances."""
from typing import Dict, Optional, Union

import torch

from .instance_index import InstanceIndex
from .selection import Selection, guard_record


def select_images(rule, rule_name: str, stats: Dict[str, torch.Tensor],
                  index: InstanceIndex, classes, epoch: int,
                  dataset: str = '', aggregate: str = 'max',
                  min_instances: Union[int, float] = 1,
                  max_fraction: Optional[float] = None,
                  excluded: Optional[torch.Tensor] = None,
                  guard: Optional[dict] = None) -> Selection:
    """Run ``rule`` on the instances, select the images that hold enough
    selected instances, and record both levels.

    ``stats`` are instance-level (as :meth:`LagStats.latest` gives them
    over :class:`InstanceIndex` numbers). Each image's score is the
    ``aggregate`` of its instances' rule scores. An image qualifies with
    ``min_instances`` selected instances: an int is a count, a float in
    (0, 1) a fraction of its scored instances (at least one). With
    ``max_fraction`` at most that fraction of all images is kept, those
    with the highest scores (ties by index): a generation budget for dense
    scenes, where nearly every image holds some lagging instance. With
    ``rule='unlearned'`` and ``min_instances=1`` an image is selected when
    any of its instances was not learned at the last probe. ``excluded``
    instances (the label-noise guard's) are never selected.
    """
    ruled = rule.select(stats) & stats['seen']
    mask = ruled if excluded is None else ruled & ~excluded
    score = rule.score(stats).double()
    count = index.count_per_image(mask)
    if isinstance(min_instances, float) and 0 < min_instances < 1:
        total = index.count_per_image(torch.ones_like(mask))
        chosen = (count >= 1) & (count >= min_instances * total)
    else:
        chosen = count >= max(1, int(min_instances))
    image_score = index.aggregate(score, aggregate)
    if max_fraction is not None:
        budget = int(max_fraction * index.num_images)
        if int(chosen.sum()) > budget:
            key = torch.where(chosen, image_score.nan_to_num(-1e300),
                              torch.full_like(image_score, -float('inf')))
            order = torch.sort(-key, stable=True).indices
            chosen = torch.zeros_like(chosen)
            chosen[order[:budget]] = True
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
        scores=image_score.tolist(),
        dataset=dataset,
        rule_cfg=dict(rule.config(), type=rule_name, aggregate=aggregate,
                      min_instances=min_instances,
                      max_fraction=max_fraction),
        excluded={} if excluded is None else guard_record(
            guard or {}, excluded, ruled, labels, names),
        fallback=[str(names[c]) for c in getattr(rule, 'fallback', [])],
        instances=dict(
            image=index.image.tolist(),
            position=index.position.tolist(),
            label=labels.tolist(),
            learned=[None if v != v else round(float(v), 6)
                     for v in learned.tolist()],
            score=[None if v != v else round(v, 6) for v in score.tolist()],
            selected=mask.tolist()))
