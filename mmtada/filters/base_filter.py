"""The interface every variant filter implements."""
from abc import ABCMeta, abstractmethod
from typing import List, Sequence, Tuple


class BaseVariantFilter(metaclass=ABCMeta):
    """Judges generated variants: a rejected one is made again with its
    next seed, up to :attr:`max_tries` makes, then dropped.

    The hook builds the filter from its ``variant_filter`` config on every
    rank, binds it to the model it scores with (:meth:`bind`) and hands it
    to :func:`mmtada.generators.make_variants`, which for each try ``t``
    makes the pending variants (variant ``v`` of a sample as ``v + t * k``,
    k variants per sample, each try its own seed and cache file), then
    calls :meth:`judge` on every rank with that rank's share of them (every
    W-th pair from its rank on; a share may be empty) and gathers the
    verdicts, so every rank serves the same.

    Invariants:

    - :meth:`judge` is a pure function of its inputs and of what
      :meth:`bind` gave it: the same pairs get the same verdicts on any
      rank, in any split, in any call (so verdicts do not depend on the
      number of ranks). It runs no collectives: shares are uneven.
    - Resume: the verdicts, not the filter, go into the checkpoint; a
      resumed run applies them and never binds or calls the filter again
      (it only makes missing files of the accepted tries). The hook's
      resume signature holds the filter's config, so resuming with another
      filter is refused.

    Attributes:
        max_tries (int): makes of one variant at most (>= 1; 1: a
            rejected variant is dropped at once). Checked when set.
    """

    def __init__(self, max_tries: int = 1):
        self.max_tries = max_tries

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

    def settings(self) -> dict:
        """What changes the verdicts, JSON-able (as
        :meth:`BaseGenerator.settings`), to describe the filter; nothing
        keys on it: the cache holds every try whatever the filter."""
        return dict(type=type(self).__name__, max_tries=self.max_tries)
