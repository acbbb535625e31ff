"""Each sample's statistics until the selection, written for audit."""
from typing import Optional

import numpy as np
import torch

from mmtada.utils.fileio import atomic_path
from .lag_stats import LagStats


def save_trajectories(path: str, stats: LagStats, labels: torch.Tensor,
                      selected: np.ndarray,
                      flagged: Optional[torch.Tensor]) -> None:
    """``path`` (``.npz``, whole): per epoch and sample (instance) the
    loss, correctness, margin and fake margin, the last epoch's mean
    outputs, the labels, the error curve, and which were selected and
    flagged by the label-noise guard."""
    with atomic_path(path) as tmp:
        np.savez_compressed(
            tmp, epochs=np.array(stats.epochs), loss=stats.loss.numpy(),
            correct=stats.correct.numpy(), margin=stats.margin.numpy(),
            fake_margin=stats.fake_margin.numpy(), probs=stats.probs.numpy(),
            labels=labels.numpy(), selected=selected,
            error=np.array(stats.error_curve()),
            flagged=np.zeros_like(selected) if flagged is None
            else flagged.numpy())
