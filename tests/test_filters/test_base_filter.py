"""The filter contract: what a filter must define, what is checked, and
how the generation chain calls it, with and without a strength ladder."""
import json
import os

import numpy as np
import pytest

from mmtada.datasets import Digits, SampleReader
from mmtada.filters import BaseVariantFilter, LabelAgreement
from mmtada.generators import make_variants, variant_seed
from mmtada.registry import GENERATORS, VARIANT_FILTERS


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


class KeepsUpTo(BaseVariantFilter):
    """Keeps a variant made at ``limit`` or below; reports novelty as the
    strength it was made at (so a floor has something to compare)."""

    def __init__(self, limit, **kw):
        super().__init__(**kw)
        self.limit, self.calls = limit, []

    def bind(self, cfg, model=None):
        return self

    def judge(self, reader, cache, pairs):
        return [ok for ok, _ in self.assess(reader, cache, pairs)]

    def assess(self, reader, cache, pairs):
        self.calls.append([cache.strength_of(v) for _, v in pairs])
        return [(cache.strength_of(v) <= self.limit, cache.strength_of(v))
                for _, v in pairs]


def pixel(weights):
    return dict(type='mmtada.PixelSDEdit', weights=weights, strength=0.9,
                num_inference_steps=4)


def test_a_ladder_walks_down_after_rejections_and_keys_the_cache(
        tmp_path, pixel_weights):
    reader = SampleReader(Digits(split='train', indices=20, pipeline=[]))
    flt = KeepsUpTo(0.35, strengths=(0.5, 0.35, 0.2))
    assert flt.max_tries == 3
    made = make_variants(pixel(pixel_weights), reader, [4, 1], 2, 0,
                         str(tmp_path), variant_filter=flt,
                         record=str(tmp_path / 'generation.json'))
    assert flt.calls == [[0.5] * 4, [0.35] * 4]  # one step down, all kept
    assert made.counts['remade'] == 4 and made.counts['kept'] == 0
    assert made.counts['strengths'] == {'0.5': 0, '0.35': 4, '0.2': 0}
    assert [made.cache.strength_of(v) for _, v in made.pairs] == [0.35] * 4
    assert made.served_record()['strengths'] == [0.35] * 4
    assert made.cache.settings['ladder'] == [0.5, 0.35, 0.2]
    assert json.load(open(tmp_path / 'generation.json'))['strengths'] == \
        made.counts['strengths']
    # every try is its own file, made at its own strength
    tried = sorted(v for (s, v) in made.cache.listed() if s == 1)
    assert tried == [0, 3, 7, 10]  # (v + t * k) * 3 + level
    assert [made.cache.strength_of(v) for v in tried] == \
        [0.5, 0.5, 0.35, 0.35]
    img = {v: made.cache.read(1, v) for v in tried}
    assert not np.array_equal(img[tried[0]], img[tried[1]])
    # the image of a try equals the generator's own at that strength
    alone = GENERATORS.build(dict(pixel(pixel_weights), strength=0.35))
    s, v = made.pairs[0]
    expect, = alone.generate([reader.source_image(s)],
                             [reader.source_annotation(s)],
                             [variant_seed(0, s, v)])
    assert np.array_equal(made.cache.read(s, v), expect)
    # without a ladder the same generator keys another cache
    plain = make_variants(pixel(pixel_weights), reader, [4], 2, 0,
                          str(tmp_path))
    assert plain.cache.dir != made.cache.dir
    assert 'ladder' not in plain.cache.settings
    assert 'strengths' not in plain.counts


def test_the_lowest_step_drops_and_a_floor_walks_back_up(tmp_path,
                                                         pixel_weights):
    reader = SampleReader(Digits(split='train', indices=20, pipeline=[]))
    flt = KeepsUpTo(0.1, strengths=(0.5, 0.35, 0.2))  # nothing passes
    made = make_variants(pixel(pixel_weights), reader, [4], 2, 0,
                         str(tmp_path), variant_filter=flt)
    assert flt.calls == [[0.5] * 2, [0.35] * 2, [0.2] * 2]
    assert made.pairs == [(4, None), (4, None)]
    assert made.counts['strengths']['source'] == 2
    # novelty (here the strength) below the floor at 0.35: remade at 0.5,
    # rejected there, so the 0.35 one is served
    flt = KeepsUpTo(0.35, strengths=(0.5, 0.35, 0.2), novelty_floor=0.4)
    assert flt.max_tries == 4
    made = make_variants(pixel(pixel_weights), reader, [4], 2, 0,
                         str(tmp_path), variant_filter=flt)
    assert flt.calls == [[0.5] * 2, [0.35] * 2, [0.5] * 2]
    assert made.counts['strengths'] == {'0.5': 0, '0.35': 2, '0.2': 0}
    # a resumed run applies the verdicts: nothing judged, files remade
    os.remove(made.cache.path(*made.pairs[0]))
    flt.calls = []
    again = make_variants(pixel(pixel_weights), reader, [4], 2, 0,
                          str(tmp_path), variant_filter=flt,
                          verdicts=made.verdicts)
    assert flt.calls == [] and again.pairs == made.pairs
    assert again.counts['generated'] == 1
    assert again.cache.dir == made.cache.dir


def test_a_ladder_is_checked_against_tries_and_generator(tmp_path):
    with pytest.raises(ValueError, match='set max_tries >= 3'):
        KeepsUpTo(0.3, strengths=(0.5, 0.35, 0.2), max_tries=2)
    with pytest.raises(ValueError, match='give strengths'):
        KeepsUpTo(0.3, novelty_floor=0.3)
    no_novelty = FirstTryRejected(2, max_tries=None)
    no_novelty.ladder = KeepsUpTo(0, strengths=(0.5, 0.2),
                                  novelty_floor=0.3).ladder
    with pytest.raises(ValueError, match='does not measure novelty'):
        no_novelty.assess(None, None, [(0, 0)])
    reader = SampleReader(Digits(split='train', indices=20, pipeline=[]))
    with pytest.raises(ValueError, match='needs a generator with a strength'):
        make_variants(dict(type='mmtada.Upsample'), reader, [4], 2, 0,
                      str(tmp_path),
                      variant_filter=KeepsUpTo(0.3, strengths=(0.5, 0.2)))
    assert KeepsUpTo(0.3, strengths=(0.5, 0.2)).settings() == dict(
        type='KeepsUpTo', max_tries=2, strengths=[0.5, 0.2],
        novelty_floor=None)
