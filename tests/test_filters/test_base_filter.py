"""The filter contract: what a filter must define, what is checked, and
how the generation chain calls it."""
import pytest

from mmtada.datasets import Digits, SampleReader
from mmtada.filters import BaseVariantFilter, LabelAgreement
from mmtada.generators import make_variants
from mmtada.registry import VARIANT_FILTERS


class FirstTryRejected(BaseVariantFilter):
    """Keeps a variant from its second make on (variant index >= k)."""

    def __init__(self, k, max_tries=2):
        super().__init__(max_tries)
        self.k, self.calls = k, []

    def bind(self, cfg, model=None):
        return self

    def judge(self, reader, cache, pairs):
        self.calls.append(list(pairs))
        assert all(cache.has(s, v) for s, v in pairs)  # made before judged
        return [v >= self.k for _, v in pairs]


def test_a_filter_without_judge_or_bind_cannot_be_built():
    class NoJudge(BaseVariantFilter):

        def bind(self, cfg, model=None):
            return self

    class NoBind(BaseVariantFilter):

        def judge(self, reader, cache, pairs):
            return []

    for cls in (NoJudge, NoBind, BaseVariantFilter):
        with pytest.raises(TypeError, match='abstract'):
            cls()


def test_max_tries_is_checked_whenever_it_is_set():
    flt = FirstTryRejected(2, max_tries='3')
    assert flt.max_tries == 3 and isinstance(flt.max_tries, int)
    with pytest.raises(ValueError, match='max_tries must be >= 1, got 0'):
        FirstTryRejected(2, max_tries=0)
    with pytest.raises(ValueError, match='max_tries must be >= 1'):
        flt.max_tries = -1
    assert flt.max_tries == 3  # unchanged
    assert flt.settings() == dict(type='FirstTryRejected', max_tries=3)


def test_the_chain_remakes_what_judge_rejects_within_max_tries(tmp_path):
    reader = SampleReader(Digits(split='train', indices=20, pipeline=[]))
    flt = FirstTryRejected(k=2, max_tries=2)
    made = make_variants(dict(type='mmtada.Upsample'), reader, [4, 1], 2, 0,
                         str(tmp_path / 'a'), variant_filter=flt)
    assert flt.calls == [[(1, 0), (1, 1), (4, 0), (4, 1)],
                         [(1, 2), (1, 3), (4, 2), (4, 3)]]
    assert made.counts['remade'] == 4 and made.counts['dropped'] == 0
    assert made.pairs == [(1, 2), (1, 3), (4, 2), (4, 3)]
    # one try: a rejected variant is dropped, its slots serve the source
    flt = FirstTryRejected(k=2, max_tries=1)
    made = make_variants(dict(type='mmtada.Upsample'), reader, [4], 2, 0,
                         str(tmp_path / 'b'), variant_filter=flt)
    assert len(flt.calls) == 1 and made.counts['dropped'] == 2
    assert made.pairs == [(4, None), (4, None)]


def test_the_registered_filters_keep_the_contract():
    flt = VARIANT_FILTERS.build(dict(type='LabelAgreement', max_tries=2))
    assert isinstance(flt, BaseVariantFilter) and flt.max_tries == 2
    assert LabelAgreement().judge(None, None, []) == []  # an empty share
    for name, cls in VARIANT_FILTERS.module_dict.items():
        assert issubclass(cls, BaseVariantFilter), name
