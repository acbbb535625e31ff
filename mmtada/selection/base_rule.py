"""What a selection rule sees and returns."""
from typing import Dict

import torch


class BaseSelectionRule:
    """Picks the slow-learnable samples from one epoch's statistics.

    Subclasses implement :meth:`select`. Rules are pure functions of the
    statistics (no randomness, ties broken by index), so every rank that
    runs one on the same statistics gets the same answer.
    """

    def select(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Return a bool mask of shape (N,).

        Args:
            stats: ``loss``, ``correct``, ``confidence`` (N,), ``probs``
                (N, C), ``labels`` (N,) long and ``seen`` (N,) bool. Values
                of unseen samples are NaN; a rule must never select them.
        """
        raise NotImplementedError

    def score(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-sample score written to selection.json (default: loss)."""
        return stats['loss']

    def config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith('_')}
