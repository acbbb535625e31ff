"""Keep likely-mislabeled samples out of the augmentation.

A sample the rule selects is multiplied k times; if its label is wrong,
so are its k variants. Guards (the samples they flag are never
selected):

- ``'aum'``: the area under the margin (Pleiss et al., NeurIPS 2020), the
  mean over the recorded epochs of the assigned class's logit minus the
  largest other logit. A mislabeled sample's network learns its true
  class first, so its margin stays as low as a wrong label's; a hard but
  correct sample's is higher, its class ranking above the others. Early
  in training every unlearned sample's AUM is negative, so the threshold
  is relative, as Pleiss et al.'s threshold samples make it: with
  ``aum_threshold='auto'``, the ``aum_quantile`` (0.5) quantile of the
  AUM of a fixed wrong class of every sample (tracked beside, never
  trained on); or a number.
- ``exclude_top=q``: the top q fraction of each class by loss (the
  hardest samples, which Difficulty-Aware Synthesis found to hurt).
- detection, ``'mismatched'``: an instance no probe ever matched with its
  own class (own-class score 0 at every probe) while the detector finds
  other instances of that class and, at the last probe, finds this one
  as another class.
"""
from typing import Dict, Optional, Union

import torch

EXCLUDE = (None, 'aum', 'mismatched')


def aum_threshold(stats: Dict[str, torch.Tensor],
                  threshold: Union[float, str] = 'auto',
                  quantile: float = 0.5) -> float:
    """The AUM below which a sample is flagged (see the module)."""
    if threshold != 'auto':
        return float(threshold)
    fake = stats['aum_fake'][stats['seen']]
    fake = fake[torch.isfinite(fake)]
    return float(torch.quantile(fake.double(), quantile)) if len(fake) \
        else float('-inf')


def flag_aum(stats: Dict[str, torch.Tensor],
             threshold: Union[float, str] = 'auto',
             quantile: float = 0.5) -> torch.Tensor:
    """Samples whose AUM is below the threshold (NaN: not flagged)."""
    aum = stats['aum']
    return ~torch.isnan(aum) & (aum < aum_threshold(stats, threshold,
                                                    quantile))


def flag_top_loss(stats: Dict[str, torch.Tensor], q: float) -> torch.Tensor:
    """Per class, the ``q`` fraction of seen samples with the highest
    loss."""
    if not 0 < q < 1:
        raise ValueError(f'exclude_top must be in (0, 1), got {q}.')
    labels, seen, loss = stats['labels'], stats['seen'], stats['loss']
    out = torch.zeros(len(labels), dtype=torch.bool)
    for c in torch.unique(labels[seen]).tolist():
        idx = torch.nonzero((labels == c) & seen).squeeze(1)
        order = torch.sort(-loss[idx].double(), stable=True).indices
        out[idx[order[:int(round(q * len(idx)))]]] = True
    return out


def flag_mismatched(stats: Dict[str, torch.Tensor], own_history:
                    torch.Tensor, score_thr: float) -> torch.Tensor:
    """Detection instances never matched with their class (own-class
    score below 1e-5 at every probe, ``own_history`` (E, M)) while their
    class has instances learned at the last probe and the last probe
    matched them with another class at ``score_thr``."""
    labels, probs = stats['labels'], stats['probs']
    never = (torch.nan_to_num(own_history, nan=0.0) < 1e-5).all(0)
    learned = stats['correct'] >= 0.5
    class_found = torch.zeros(int(labels.max()) + 1 if len(labels) else 0,
                              dtype=torch.bool)
    class_found[labels[learned]] = True
    others = probs.clone().scatter_(1, labels[:, None], 0.0)
    seen_as_other = torch.nan_to_num(others, nan=0.0).max(1).values \
        >= score_thr
    return never & class_found[labels] & seen_as_other


def guard(stats: Dict[str, torch.Tensor], exclude: Optional[str],
          threshold: Union[float, str] = 'auto', quantile: float = 0.5,
          exclude_top: Optional[float] = None,
          own_history: Optional[torch.Tensor] = None,
          score_thr: float = 0.3) -> torch.Tensor:
    """The union of the configured guards' flags (all False if none)."""
    if exclude not in EXCLUDE:
        raise ValueError(f'exclude must be one of {EXCLUDE}, got '
                         f'{exclude!r}.')
    flags = torch.zeros(len(stats['labels']), dtype=torch.bool)
    if exclude == 'aum':
        flags |= flag_aum(stats, threshold, quantile)
    elif exclude == 'mismatched':
        flags |= flag_mismatched(stats, own_history, score_thr)
    if exclude_top is not None:
        flags |= flag_top_loss(stats, exclude_top)
    return flags & stats['seen']
