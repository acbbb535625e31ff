"""Dense per-sample learning-lag statistics."""
from typing import Dict, List, Optional

import torch
from mmengine import dist

HISTORY = ('loss', 'correct', 'confidence', 'margin', 'fake_margin')


def fake_labels(indices: torch.Tensor, labels: torch.Tensor,
                num_classes: int) -> torch.Tensor:
    """A fixed wrong class per sample (a function of its index and label
    alone): the label whose margin :class:`LagStats` also tracks, the
    reference for what a wrong label's margin looks like."""
    if num_classes < 2:
        return labels
    step = 1 + (indices * 2654435761) % (num_classes - 1)
    return (labels + step) % num_classes


class LagStats:
    """Per-sample loss, correctness, confidence, margin and outputs, per
    epoch.

    Buffers are dense over the N samples of the base training set and keyed
    by sample index, never by sampler order. Each rank accumulates what it
    saw during an epoch; :meth:`end_epoch` sums the accumulators across ranks
    and stores the epoch's means, so after it every rank holds identical
    history. Sums are count-weighted, so the duplicates that
    ``DefaultSampler(round_up=True)`` adds on some ranks, and the slots of a
    :class:`TADADataset` that repeat a sample, keep the means exact.

    The *margin* is the assigned class's logit minus the largest other one
    (from log-probabilities: the normaliser cancels); its mean over epochs
    is the area under the margin (AUM, Pleiss et al., NeurIPS 2020), low for
    mislabeled samples. The *fake margin* is the same for a fixed wrong
    class of each sample (:func:`fake_labels`): what the AUM of a wrong
    label looks like at this point of training.

    State (:meth:`state_dict`) is plain tensors, ints and lists: safe for
    ``torch.load(weights_only=True)``.

    Args:
        num_samples (int): N, the length of the base training set.
        num_classes (int): C, the width of the model's outputs.
    """

    def __init__(self, num_samples: int, num_classes: int):
        self.num_samples = num_samples
        self.num_classes = num_classes
        self.epochs: List[int] = []
        for key in HISTORY:
            setattr(self, key, torch.empty(0, num_samples))
        # Mean softmax outputs of the last finished epoch (k-means input).
        self.probs = torch.full((num_samples, num_classes), float('nan'))
        # Per epoch: how many recorded outputs were not finite (diverged).
        self.nonfinite: List[int] = []
        self._acc: Optional[Dict[str, torch.Tensor]] = None

    def _accumulators(self, device) -> Dict[str, torch.Tensor]:
        if self._acc is None:
            n, c = self.num_samples, self.num_classes
            self._acc = dict(
                nonfinite=torch.zeros(1, device=device),
                count=torch.zeros(n, device=device),
                probs=torch.zeros(n, c, device=device),
                **{key: torch.zeros(n, device=device) for key in HISTORY})
        return self._acc

    @torch.no_grad()
    def update(self, indices: torch.Tensor, log_probs: torch.Tensor,
               labels: torch.Tensor,
               correct: Optional[torch.Tensor] = None) -> None:
        """Add one batch.

        Args:
            indices: (B,) sample indices in ``[0, N)``.
            log_probs: (B, C) log-softmax of the model's outputs (fp32), or
                for detection instances the log of their per-class match
                scores.
            labels: (B,) ground-truth class indices.
            correct: (B,) whether each was learned; defaults to
                ``argmax == label``.
        """
        log_probs = log_probs.float()
        device = log_probs.device
        acc = self._accumulators(device)
        indices = indices.to(device=device, dtype=torch.long)
        labels = labels.to(device=device, dtype=torch.long)
        if indices.numel() and (indices.min() < 0
                                or indices.max() >= self.num_samples):
            raise IndexError(
                f'sample index out of range [0, {self.num_samples}): the '
                'train dataset the hook was set up for is not the one being '
                'served; wrap the real training set in mmtada.TADADataset.')
        true_lp = log_probs.gather(1, labels[:, None]).squeeze(1)
        others = log_probs.scatter(1, labels[:, None], float('-inf'))
        fake = fake_labels(indices, labels, self.num_classes)
        fake_lp = log_probs.gather(1, fake[:, None]).squeeze(1)
        fake_others = log_probs.scatter(1, fake[:, None], float('-inf'))
        if correct is None:
            correct = log_probs.argmax(1) == labels
        acc['nonfinite'] += (~torch.isfinite(log_probs).all(1)).sum()
        for key, value in (('count', torch.ones_like(true_lp)),
                           ('loss', -true_lp),
                           ('correct', correct.to(device=device).float()),
                           ('confidence', true_lp.exp()),
                           ('margin', true_lp - others.max(1).values),
                           ('fake_margin',
                            fake_lp - fake_others.max(1).values)):
            acc[key].index_add_(0, indices, value)
        acc['probs'].index_add_(0, indices, log_probs.exp())

    def end_epoch(self, epoch: int) -> None:
        """Reduce this epoch across ranks and append it to the history.

        A collective: every rank must call it at the same epoch. Samples
        no rank saw get NaN for this epoch.
        """
        acc = self._accumulators('cpu')
        for value in acc.values():
            dist.all_reduce(value, op='sum')
        count = acc['count'].cpu()
        seen = count > 0
        denom = count.clamp_min(1)

        def mean(x):
            x = x.cpu() / (denom if x.dim() == 1 else denom[:, None])
            x[~seen] = float('nan')
            return x

        for key in HISTORY:
            setattr(self, key, torch.cat([getattr(self, key),
                                          mean(acc[key])[None]]))
        self.probs = mean(acc['probs'])
        self.nonfinite.append(int(acc['nonfinite'].item()))
        self.epochs.append(int(epoch))
        self._acc = None

    def latest(self, labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The last finished epoch's statistics, as selection rules take
        them (see :class:`BaseSelectionRule`), and ``aum`` / ``aum_fake``:
        the margin's / fake margin's mean over the recorded epochs."""
        if not self.epochs:
            raise RuntimeError('no epoch has been recorded yet')
        return dict(
            loss=self.loss[-1], correct=self.correct[-1],
            confidence=self.confidence[-1], probs=self.probs,
            aum=self.margin.nanmean(0),
            aum_fake=self.fake_margin.nanmean(0), labels=labels.long(),
            seen=~torch.isnan(self.loss[-1]))

    def error_curve(self) -> List[float]:
        """Per recorded epoch, the fraction of the seen samples (or
        instances) not learned: the training error."""
        return [float(1 - c[~torch.isnan(c)].mean()) if (~torch.isnan(c)).any()
                else float('nan') for c in self.correct]

    @property
    def num_epochs(self) -> int:
        return len(self.epochs)

    def state_dict(self) -> dict:
        return dict(
            num_samples=self.num_samples,
            num_classes=self.num_classes,
            epochs=list(self.epochs),
            probs=self.probs.clone(),
            nonfinite=list(self.nonfinite),
            **{key: getattr(self, key).clone() for key in HISTORY})

    def load_state_dict(self, state: dict) -> None:
        if (state['num_samples'], state['num_classes']) != (
                self.num_samples, self.num_classes):
            raise ValueError(
                'the checkpoint holds learning-lag statistics for '
                f"{state['num_samples']} samples x {state['num_classes']} "
                f'classes, but this run has {self.num_samples} x '
                f'{self.num_classes}: resume with the dataset and model of '
                'the original run, or start a new work_dir.')
        self.epochs = list(state['epochs'])
        for key in HISTORY:
            setattr(self, key, state[key].clone() if key in state else
                    torch.full((len(self.epochs), self.num_samples),
                               float('nan')))
        self.probs = state['probs'].clone()
        self.nonfinite = list(state.get('nonfinite', [0] * len(self.epochs)))
        self._acc = None
