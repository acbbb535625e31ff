"""The paper's rule: per class, 2-means on the model's outputs."""
from typing import Dict

import torch

from mmtada.registry import SELECTION_RULES
from .base_rule import BaseSelectionRule


def two_means(x: torch.Tensor, key: torch.Tensor,
              max_iter: int = 100) -> torch.Tensor:
    """Deterministic 2-means; returns a bool mask of the 'high' cluster.

    The centres start at the means of the samples whose ``key`` is at most /
    above its median, so the 'high' cluster is the one seeded by high keys;
    Lloyd iterations run in float64 until the assignment is stable.
    """
    x = x.double()
    order = torch.sort(key.double(), stable=True).indices
    high = torch.zeros(len(x), dtype=torch.bool)
    high[order[len(x) // 2:]] = True
    for _ in range(max_iter):
        if high.all() or not high.any():
            break
        centres = torch.stack([x[~high].mean(0), x[high].mean(0)])
        d = torch.cdist(x, centres)
        new = d[:, 1] < d[:, 0]
        if torch.equal(new, high):
            break
        high = new
    return high


@SELECTION_RULES.register_module(name='kmeans')
class KMeansRule(BaseSelectionRule):
    """Per class, split the outputs into 2 clusters; the cluster with the
    higher mean loss is slow-learnable (USEFUL / TADA).

    A class whose outputs cannot be split (all identical: e.g. instances no
    detection found yet) is selected where the model gets it wrong
    (``correct < 0.5``) and skipped where it gets it right.

    Args:
        min_class_size (int): classes with fewer seen samples are skipped.
    """

    def __init__(self, min_class_size: int = 2):
        self.min_class_size = min_class_size

    def select(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        labels, seen = stats['labels'], stats['seen']
        loss, probs = stats['loss'], stats['probs']
        mask = torch.zeros(len(labels), dtype=torch.bool)
        for c in torch.unique(labels[seen]).tolist():
            idx = torch.nonzero((labels == c) & seen).squeeze(1)
            if len(idx) < self.min_class_size:
                continue
            high = two_means(probs[idx], loss[idx])
            if high.all() or not high.any():
                mask[idx] = stats['correct'][idx] < 0.5
                continue
            slow = high if loss[idx][high].mean() > loss[idx][~high].mean() \
                else ~high
            mask[idx[slow]] = True
        return mask
