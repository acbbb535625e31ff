"""The paper's rule: per class, 2-means on the model's outputs."""
from typing import Dict, List

import numpy as np
import torch

from mmtada.registry import SELECTION_RULES
from .base_rule import BaseSelectionRule

FEATURES = ('probs', 'logits')


@SELECTION_RULES.register_module(name='kmeans')
class KMeansRule(BaseSelectionRule):
    """Per class, split the outputs into 2 clusters with scikit-learn's
    ``KMeans(n_clusters=2, n_init, random_state=seed)`` (as the USEFUL and
    TADA code); the cluster with the higher mean loss is slow-learnable.

    ``features='probs'`` clusters the epoch's mean softmax outputs (the
    paper's), ``'logits'`` their logarithms (log-probabilities: the logits
    up to a per-sample shift), which spreads the confident samples apart.
    A class whose outputs cannot be split (all identical: e.g. instances no
    detection found yet) is selected where the model gets it wrong
    (``correct < 0.5``) and skipped where it gets it right; such classes
    are listed in :attr:`fallback` after :meth:`select`. Deterministic
    given ``seed``: every rank gets the same answer.

    Args:
        min_class_size (int): classes with fewer seen samples are skipped.
            Defaults to 2.
        features (str): ``'probs'`` or ``'logits'``. Defaults to
            ``'probs'``.
        n_init (int): k-means restarts. Defaults to 10.
        seed (int): k-means ``random_state``. Defaults to 0.
    """

    def __init__(self, min_class_size: int = 2, features: str = 'probs',
                 n_init: int = 10, seed: int = 0):
        if features not in FEATURES:
            raise ValueError(f'kmeans features must be one of {FEATURES}, '
                             f'got {features!r}.')
        self.min_class_size = int(min_class_size)
        self.features = features
        self.n_init = int(n_init)
        self.seed = int(seed)
        self.fallback: List[int] = []

    def config(self) -> dict:
        return dict(min_class_size=self.min_class_size,
                    features=self.features, n_init=self.n_init,
                    seed=self.seed)

    def select(self, stats: Dict[str, torch.Tensor]) -> torch.Tensor:
        from sklearn.cluster import KMeans
        labels, seen = stats['labels'], stats['seen']
        loss = stats['loss'].double().numpy()
        x = stats['probs'].double().numpy()
        if self.features == 'logits':
            x = np.log(np.clip(x, 1e-12, None))
        mask = torch.zeros(len(labels), dtype=torch.bool)
        self.fallback = []
        for c in torch.unique(labels[seen]).tolist():
            idx = torch.nonzero((labels == c) & seen).squeeze(1)
            if len(idx) < self.min_class_size:
                continue
            rows = x[idx.numpy()]
            if np.allclose(rows, rows[0]):
                mask[idx] = stats['correct'][idx] < 0.5
                self.fallback.append(int(c))
                continue
            assign = KMeans(n_clusters=2, n_init=self.n_init,
                            random_state=self.seed).fit_predict(rows)
            lc = loss[idx.numpy()]
            slow = int(lc[assign == 1].mean() > lc[assign == 0].mean())
            mask[idx[torch.from_numpy(assign == slow)]] = True
        return mask
