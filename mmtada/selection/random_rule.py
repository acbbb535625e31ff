"""Control rules for ablations: a random subset, or everything."""
from typing import Dict, Optional

import torch

from mmtada.registry import SELECTION_RULES
from .base_rule import BaseSelectionRule


@SELECTION_RULES.register_module(name='random')
class RandomRule(BaseSelectionRule):
    """A seeded uniform random subset of the seen samples, of ``num``
    samples or ``fraction`` of them: the control for 'does *which* samples
    matter', at TADA's size. The same seed and statistics give the same
    subset on every rank.

    Args:
        num (int, optional): how many to select.
        fraction (float, optional): or which fraction, in (0, 1].
        seed (int): the draw's seed.
    """

    def __init__(self, num: Optional[int] = None,
                 fraction: Optional[float] = None, seed: int = 0):
        if (num is None) == (fraction is None):
            raise ValueError('the random rule needs exactly one of num and '
                             'fraction.')
        if num is not None and num < 0:
            raise ValueError(f'random rule num must be >= 0, got {num}.')
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError(
                f'random rule fraction must be in (0, 1], got {fraction}.')
        self.num = num
        self.fraction = fraction
        self.seed = int(seed)

    def select(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        seen = torch.nonzero(stats['seen']).squeeze(1)
        k = self.num if self.num is not None else int(
            round(self.fraction * len(seen)))
        g = torch.Generator().manual_seed(self.seed)
        pick = seen[torch.randperm(len(seen), generator=g)[:k]]
        mask = torch.zeros(len(stats['seen']), dtype=torch.bool)
        mask[pick] = True
        return mask


@SELECTION_RULES.register_module(name='all')
class AllRule(BaseSelectionRule):
    """Every seen sample: augmenting the whole dataset (the control TADA
    is compared with)."""

    def select(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        return stats['seen'].clone()
