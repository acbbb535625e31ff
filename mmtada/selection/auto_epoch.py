"""The separating epoch, found from the training-error curve.

USEFUL selects at "the epoch where the decrease of the training error
starts to slow". Rule: with the error e_t at the end of epoch t (e_0 the
chance error, 1 - 1/C), the drop d_t = e_{t-1} - e_t; the run selects at
the first epoch t in [lo, hi] whose drop is below ``fraction`` (0.5) of
the largest drop so far, and at ``hi`` if none is (a curve that never
flattens). ``lo``, ``hi`` are ``auto_range`` fractions of the schedule
(default 3% and 10%, at least epoch 1). A detector's curve (1 - the
learned fraction of the instances) is also held until ``ready``: until the
detector finds a meaningful share of the instances, no knee counts.
"""
import math
from typing import List, Optional, Sequence, Tuple

DEFAULT_RANGE = (0.03, 0.10)
DEFAULT_FRACTION = 0.5


def epoch_range(max_epochs: int,
                auto_range: Tuple[float, float] = DEFAULT_RANGE
                ) -> Tuple[int, int]:
    """(lo, hi) epochs of ``auto_range`` fractions of ``max_epochs``."""
    a, b = auto_range
    if not 0 < a <= b <= 1:
        raise ValueError('auto_range must be (min, max) fractions of the '
                         f'schedule with 0 < min <= max <= 1, got '
                         f'{auto_range}.')
    lo = max(1, math.ceil(a * max_epochs))
    return lo, max(lo, round(b * max_epochs))


def drops(errors: Sequence[float], start: float) -> List[float]:
    """d_t = e_{t-1} - e_t, e_0 = ``start``."""
    prev = [start] + list(errors[:-1])
    return [p - e for p, e in zip(prev, errors)]


def decide(errors: Sequence[float], start: float, lo: int, hi: int,
           fraction: float = DEFAULT_FRACTION,
           ready: bool = True) -> Optional[str]:
    """At the end of epoch ``len(errors)``: ``'knee'`` or ``'cap'`` to
    select now, None to train on."""
    t = len(errors)
    if t < lo:
        return None
    d = drops(errors, start)
    if ready and max(d) > 0 and d[-1] < fraction * max(d):
        return 'knee'
    return 'cap' if t >= hi else None


class SelectEpoch:
    """The hook's select-epoch policy: a fixed epoch, or ``'auto'``.

    ``arg`` is an epoch, a float in (0, 1) (a fraction of ``max_epochs``),
    None (5% of the schedule, at least 1) or ``'auto'`` (the knee of the
    error curve within ``auto_range``, see the module). :meth:`resolve`
    fixes it for a schedule; :meth:`due` says at the end of each epoch
    whether to select now. Stateless between epochs: every rank, and a
    resumed run, decides alike from the same curve.
    """

    def __init__(self, arg=None, auto_range: Tuple[float, float] =
                 DEFAULT_RANGE, fraction: float = DEFAULT_FRACTION):
        self.arg = arg
        self.auto_range = tuple(auto_range)
        self.fraction = float(fraction)
        self.epoch: Optional[int] = None  # 'auto': the latest it may be
        self.range: Optional[Tuple[int, int]] = None  # 'auto' only

    @property
    def auto(self) -> bool:
        return self.arg == 'auto'

    def resolve(self, max_epochs: int) -> int:
        """Fix the epoch for a schedule of ``max_epochs``."""
        arg = self.arg
        if self.auto:
            self.range = epoch_range(max_epochs, self.auto_range)
            self.epoch = self.range[1]
            return self.epoch
        if arg is None:
            epoch = max(1, round(0.05 * max_epochs))
        elif isinstance(arg, float) and 0 < arg < 1:
            epoch = max(1, math.ceil(arg * max_epochs))
        else:
            epoch = int(arg)
        if not 1 <= epoch <= max_epochs:
            raise ValueError(
                f'select_epoch={arg} is outside the schedule of {max_epochs} '
                'epochs: set select_epoch to an epoch in [1, max_epochs] '
                '(about 5-10% of the schedule, as the paper).')
        self.epoch = epoch
        return epoch

    def deciding(self, epoch: int) -> bool:
        """Whether the curve is needed at the end of ``epoch``."""
        return epoch == self.epoch or (self.auto and epoch >= self.range[0])

    def due(self, epoch: int, errors: Sequence[float], start: float,
            ready: bool = True) -> Optional[str]:
        """At the end of ``epoch`` (``errors`` up to it, e_0 = ``start``):
        why to select now (``'epoch'``, ``'knee'``, ``'cap'``), or None."""
        if not self.auto:
            return 'epoch' if epoch >= self.epoch else None
        return decide(errors, start, *self.range, self.fraction, ready)

    def record(self, reason: str, errors: Sequence[float],
               start: float) -> dict:
        """The selection's ``auto`` entry (empty for a fixed epoch)."""
        if not self.auto or reason == 'epoch':
            return {}
        return dict(reason=reason, range=list(self.range),
                    knee=self.fraction, curve=list(errors), start=start)

    def signature(self) -> dict:
        """What a resumed run must share."""
        if not self.auto:
            return dict(select_epoch=self.epoch, auto=None)
        return dict(select_epoch=self.arg, auto=dict(
            range=list(self.auto_range), knee=self.fraction))
