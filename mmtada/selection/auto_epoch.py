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
