"""Select the highest-loss fraction of the samples."""
from typing import Dict

import torch

from mmtada.registry import SELECTION_RULES
from .base_rule import BaseSelectionRule


@SELECTION_RULES.register_module(name='loss_quantile')
class LossQuantileRule(BaseSelectionRule):
    """Select the ``fraction`` of seen samples with the highest loss.

    Args:
        fraction (float): in (0, 1].
        per_class (bool): take the fraction within each class (default), or
            over the whole set.
    """

    def __init__(self, fraction: float = 0.35, per_class: bool = True):
        if not 0 < fraction <= 1:
            raise ValueError(
                f'loss_quantile fraction must be in (0, 1], got {fraction}.')
        self.fraction = fraction
        self.per_class = per_class

    def select(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        labels, seen, loss = stats['labels'], stats['seen'], stats['loss']
        groups = torch.unique(labels[seen]).tolist() if self.per_class \
            else [None]
        mask = torch.zeros(len(loss), dtype=torch.bool)
        for c in groups:
            member = seen if c is None else seen & (labels == c)
            idx = torch.nonzero(member).squeeze(1)
            k = int(round(self.fraction * len(idx)))
            # Stable sort on -loss: equal losses keep index order.
            order = torch.sort(-loss[idx].double(), stable=True).indices
            mask[idx[order[:k]]] = True
        return mask
