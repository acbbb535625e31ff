"""Select the samples the model gets wrong at the selection epoch."""
from typing import Dict

import torch

from mmtada.registry import SELECTION_RULES
from .base_rule import BaseSelectionRule


@SELECTION_RULES.register_module(name=['misclassified', 'unlearned'])
class MisclassifiedRule(BaseSelectionRule):
    """Selected when the epoch's accuracy on the sample is below
    ``max_accuracy`` (default: wrong at least half the times it was seen).

    For detection instances ``correct`` is 'learned' (found by a prediction
    of its class), so at the instance level this is 'any instance
    unlearned', also registered as ``'unlearned'``.
    """

    def __init__(self, max_accuracy: float = 0.5):
        self.max_accuracy = max_accuracy

    def select(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        return stats['seen'] & (stats['correct'] < self.max_accuracy)

    def score(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        return 1 - stats['correct']
