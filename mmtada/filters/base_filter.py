"""The interface every variant filter implements."""
from abc import ABCMeta, abstractmethod
from typing import List, Optional, Sequence, Tuple

from mmtada.generators.strength_ladder import StrengthLadder


class BaseVariantFilter(metaclass=ABCMeta):
    """Judges generated variants: a rejected one is made again with its
    next seed, up to :attr:`max_tries` makes, then dropped. With
    ``strengths`` (a :class:`~mmtada.generators.StrengthLadder`) each
    remake walks the ladder: first the highest strength, one step lower
    after a rejection, one step higher after a kept variant closer to its
    source than ``novelty_floor`` (which needs :meth:`assess` to measure
    novelty).

    The hook builds the filter from its ``variant_filter`` config on every
    rank, binds it to the model it scores with (:meth:`bind`) and hands it
    to :func:`mmtada.generators.make_variants`, which for each try ``t``
    makes the pending variants (variant ``v`` of a sample as ``v + t * k``,
    k variants per sample, each try its own seed and cache file), then
    calls :meth:`judge` on every rank with that rank's share of them (every
    W-th pair from its rank on; a share may be empty) and gathers the
    verdicts, so every rank serves the same.

    Invariants:

    - :meth:`judge` (and :meth:`assess`) is a pure function of its inputs
      and of what :meth:`bind` gave it: the same pairs get the same
      verdicts on any
      rank, in any split, in any call (so verdicts do not depend on the
      number of ranks). It runs no collectives: shares are uneven.
    - Resume: the verdicts, not the filter, go into the checkpoint; a
      resumed run applies them and never binds or calls the filter again
      (it only makes missing files of the accepted tries, keyed by the
      unbound filter's ladder). The hook's
      resume signature holds the filter's config, so resuming with another
      filter is refused.

    Args:
        max_tries (int, optional): makes of one variant at most (>= 1; 1:
            a rejected variant is dropped at once; with a ladder, at least
            its length). Defaults to None: 1, or with a ladder its length
            (plus one with a floor).
        strengths (Sequence[float], optional): the ladder, highest first.
            Defaults to None (the generator's strength only).
        novelty_floor (float, optional): the ladder's floor. Defaults to
            None.

    Attributes:
        max_tries (int): checked when set.
        ladder (StrengthLadder or None): keys the variant cache.
    """

    def __init__(self, max_tries: Optional[int] = None,
                 strengths: Optional[Sequence[float]] = None,
                 novelty_floor: Optional[float] = None):
        if novelty_floor is not None and not strengths:
            raise ValueError('novelty_floor walks a strength ladder: give '
                             'strengths=(...) too.')
        self.ladder = None if not strengths else StrengthLadder(
            strengths, novelty_floor)
        if max_tries is None:
            max_tries = 1 if self.ladder is None \
                else self.ladder.default_tries()
        self.max_tries = max_tries
        if self.ladder is not None and self.max_tries < len(self.ladder):
            raise ValueError(
                f'max_tries={self.max_tries} never reaches the last of the '
                f'{len(self.ladder)} strengths {self.ladder.strengths}: set '
                f'max_tries >= {len(self.ladder)} (or leave it unset).')

    @property
    def novelty_floor(self) -> Optional[float]:
        """The ladder's floor (None: no novelty to measure)."""
        return None if self.ladder is None else self.ladder.novelty_floor

    @property
    def max_tries(self) -> int:
        return self._max_tries

    @max_tries.setter
    def max_tries(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f'max_tries must be >= 1, got {value}.')
        self._max_tries = int(value)

    @abstractmethod
    def bind(self, cfg, model=None) -> 'BaseVariantFilter':
        """Get ready to judge with the run's config ``cfg`` and ``model``
        (the one being trained, possibly wrapped; None where there is
        none, e.g. a tool) or weights of the filter's own; return self."""

    @abstractmethod
    def judge(self, reader, cache,
              pairs: Sequence[Tuple[int, int]]) -> List[bool]:
        """Whether each ``(source, variant)`` of ``pairs`` is kept: one
        bool per pair, in order (``[]`` for none). ``reader`` is the
        :class:`~mmtada.datasets.SampleReader` of the base samples,
        ``cache`` the :class:`~mmtada.generators.VariantCache` that holds
        every pair (on every rank)."""

    def assess(self, reader, cache, pairs: Sequence[Tuple[int, int]]
               ) -> List[Tuple[bool, float]]:
        """``(kept, novelty)`` of each pair, novelty in
        ``variant_quality``'s units (what a ``novelty_floor`` compares
        with). This default gives :meth:`judge`'s verdicts with novelty
        NaN (not measured); a filter that measures it overrides this."""
        if self.novelty_floor is not None:
            raise ValueError(f'{type(self).__name__} does not measure '
                             'novelty: remove novelty_floor.')
        return [(bool(k), float('nan'))
                for k in self.judge(reader, cache, pairs)]

    def settings(self) -> dict:
        """What changes the verdicts, JSON-able (as
        :meth:`BaseGenerator.settings`), to describe the filter; only its
        ladder's strengths key the cache (they say how a try is made)."""
        out = dict(type=type(self).__name__, max_tries=self.max_tries)
        if self.ladder is not None:
            out.update(self.ladder.settings())
        return out
