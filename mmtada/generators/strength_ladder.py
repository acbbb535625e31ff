"""Strengths to make a variant at, highest first: the variant filter walks
it down on a rejection and back up on a near-copy."""
from typing import Optional, Sequence


class StrengthLadder:
    """The SDEdit strengths a variant may be made at, and the walk the
    variant filter takes along them.

    A variant is first made at the highest strength. A rejection (the
    judge no longer sees its label) remakes it one step lower; at the
    lowest, rejections remake it there with its next seed until the tries
    run out, then it is dropped. With ``novelty_floor``, a kept variant
    closer to its source than the floor (in ``variant_quality``'s novelty
    units: 0 a copy, 1 as different as another real image of its class)
    is kept in reserve and remade one step higher while tries remain; the
    reserve is served when tries run out, or when a remake above it is
    rejected. See :func:`walk_step`.

    Cache keys: try ``t`` of variant ``v`` (of ``k`` per sample) at level
    ``l`` is stored as variant id ``(v + t * k) * n + l`` (``n`` levels,
    :func:`try_id`), so the id alone says the strength it was made at
    (:meth:`strength_of`) and ids of different strengths never collide.
    A ladder of one strength is no ladder: ids are ``v + t * k``, as
    without a filter's ladder.

    Args:
        strengths (Sequence[float]): strictly decreasing, each in [0, 1].
        novelty_floor (float, optional): Defaults to None (no floor).
    """

    def __init__(self, strengths: Sequence[float],
                 novelty_floor: Optional[float] = None):
        values = [float(s) for s in strengths]
        if not values or any(not 0 <= s <= 1 for s in values) or any(
                a <= b for a, b in zip(values, values[1:])):
            raise ValueError(
                'strengths must be a non-empty, strictly decreasing list of '
                f'values in [0, 1] (highest first), got {list(strengths)}.')
        if novelty_floor is not None and not novelty_floor >= 0:
            raise ValueError(
                f'novelty_floor must be >= 0, got {novelty_floor}.')
        self.strengths = tuple(values)
        self.novelty_floor = None if novelty_floor is None \
            else float(novelty_floor)

    def __len__(self) -> int:
        return len(self.strengths)

    def settings(self) -> dict:
        return dict(strengths=list(self.strengths),
                    novelty_floor=self.novelty_floor)

    def default_tries(self) -> int:
        """Makes needed to walk down every level, plus one step back up
        with a floor."""
        return len(self) + (self.novelty_floor is not None)

    def level_of(self, variant_id: int) -> int:
        return int(variant_id) % len(self)

    def strength_of(self, variant_id: int) -> float:
        return self.strengths[self.level_of(variant_id)]


def try_id(ladder: Optional[StrengthLadder], variant: int,
           num_variants: int, level: int = 0, attempt: int = 0) -> int:
    """The cache id of try ``attempt`` of ``variant`` (of ``num_variants``
    per sample) at ``level``: ``(variant + attempt * k) * n + level`` for
    ``n`` levels; without a ladder (None) or with one of one strength,
    ``variant + attempt * k``."""
    levels = 1 if ladder is None else len(ladder)
    base = int(variant) + int(attempt) * int(num_variants)
    return base if levels == 1 else base * levels + int(level)


def walk_step(ladder: Optional[StrengthLadder], level: int, kept: bool,
              novelty: float, reserve: Optional[int], variant_id: int,
              last: bool) -> tuple:
    """What follows one verdict on ``variant_id`` (made at ``level``),
    given the ``reserve`` kept so far (a near-copy's id, or None) and
    whether this was the ``last`` try. Without a ladder (None) the walk
    has one step and no floor: a rejection remakes the variant with its
    next seed until the tries run out.

    Returns ``(done, served, level, reserve)``: when ``done``, ``served``
    is the id to serve (None: dropped); otherwise the variant is made
    again at ``level``.
    """
    floor = None if ladder is None else ladder.novelty_floor
    lowest = 0 if ladder is None else len(ladder) - 1
    if kept and (floor is None or not novelty < floor):
        return True, variant_id, level, reserve
    if kept:  # a near-copy: keep it in reserve, try one step higher
        if level == 0 or last:
            return True, variant_id, level, variant_id
        return False, None, level - 1, variant_id
    if reserve is not None:  # the step above the reserve lost the label
        return True, reserve, level, reserve
    if last:
        return True, None, level, None
    return False, None, min(level + 1, lowest), None
