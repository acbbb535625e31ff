"""The variant filter in the generation chain and in the hook: what is
kept, remade and dropped, on a real classifier; the same on resume."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from mmtada.datasets import Digits, SampleReader
from mmtada.evaluation.variant_quality import class_spread, cosine_distance
from mmtada.filters import LabelAgreement
from mmtada.generators import make_variants
from mmtada.utils import RunLayout


def lag_hook(runner):
    from mmtada.engine.hooks import LearningLagHook
    return [h for h in runner.hooks if isinstance(h, LearningLagHook)][0]


def pixel(weights, strength=0.9):
    return dict(type='mmtada.PixelSDEdit', weights=weights,
                strength=strength, num_inference_steps=4)


def bound_filter(cfg, min_ratio, max_tries=2):
    runner = Runner.from_cfg(cfg)
    return LabelAgreement(min_ratio=min_ratio,
                          max_tries=max_tries).bind(runner.cfg, runner.model)


def test_copies_are_kept_and_an_impossible_bar_drops_all(cls_cfg, tmp_path):
    reader = SampleReader(Digits(split='train', indices=20, pipeline=[]))
    flt = bound_filter(cls_cfg(), min_ratio=1.0)  # copies: exactly 1
    made = make_variants(dict(type='mmtada.Upsample'), reader, [3, 9], 2, 0,
                         str(tmp_path / 'a'), variant_filter=flt)
    assert made.counts['kept'] == 4 and made.counts['dropped'] == 0
    assert made.pairs == [(3, 0), (3, 1), (9, 0), (9, 1)]
    flt = bound_filter(cls_cfg(), min_ratio=1e9, max_tries=3)
    made = make_variants(dict(type='mmtada.Upsample'), reader, [3], 2, 0,
                         str(tmp_path / 'b'), variant_filter=flt)
    assert made.counts['dropped'] == 2 and made.counts['kept'] == 0
    assert made.verdicts == {(3, 0): -1, (3, 1): -1}
    assert made.pairs == [(3, None), (3, None)]  # the slots serve the source
    for v in range(6):  # three tries of two variants, each its own file
        assert made.cache.has(3, v)


def test_rejected_variants_are_remade_with_their_next_seed(
        cls_cfg, tmp_path, pixel_weights):
    reader = SampleReader(Digits(split='train', indices=40, pipeline=[]))
    flt = bound_filter(cls_cfg(), min_ratio=1.0, max_tries=3)
    sources = list(range(0, 40, 4))
    made = make_variants(pixel(pixel_weights), reader, sources, 2, 0,
                         str(tmp_path), variant_filter=flt)
    c = made.counts
    assert c['kept'] + c['remade'] + c['dropped'] == 20
    assert c['remade'] > 0 and c['kept'] > 0  # a bar some pass, some not
    # each verdict agrees with the filter's own judgement of every try
    for (s, v), accepted in made.verdicts.items():
        tries = [v + 2 * t for t in range(3)]  # what was made, in turn
        made_tries = tries if accepted < 0 else tries[:tries.index(
            accepted) + 1]
        judged = flt.judge(reader, made.cache, [(s, t) for t in made_tries])
        assert judged[-1] == (accepted >= 0) and not any(judged[:-1])
        assert all(made.cache.has(s, t) for t in made_tries)
    # the same seed, the same verdicts
    again = make_variants(pixel(pixel_weights), reader, sources, 2, 0,
                          str(tmp_path), variant_filter=flt)
    assert again.verdicts == made.verdicts and again.counts['generated'] == 0


def test_the_hook_filters_records_counts_and_resumes_without_rescoring(
        cls_cfg, pixel_weights, monkeypatch):
    flt = dict(type='mmtada.LabelAgreement', min_ratio=1.0, max_tries=2)
    cfg = cls_cfg(max_epochs=2, select_epoch=1, num_variants=2,
                  generator=pixel(pixel_weights), variant_filter=flt)
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = lag_hook(runner)
    layout = RunLayout(runner.work_dir)
    gen = json.load(open(layout.generation))
    assert gen['kept'] + gen['remade'] + gen['dropped'] == gen['total']
    assert gen['filter_seconds'] > 0
    served = json.load(open(layout.served))['pairs']
    assert sorted(map(tuple, served), key=str) == sorted(
        hook.dataset.variants, key=str)  # what the dataset serves
    calls = []
    for name in ('judge', 'assess'):
        monkeypatch.setattr(LabelAgreement, name,
                            lambda *a: calls.append(a) or [])
    cfg = cls_cfg(max_epochs=3, select_epoch=1, num_variants=2,
                  generator=pixel(pixel_weights), variant_filter=flt)
    cfg.resume = True
    again = Runner.from_cfg(cfg)
    again.train()
    assert calls == []  # nothing rescored
    assert lag_hook(again).state.verdicts == hook.state.verdicts
    assert again.train_dataloader.dataset.variants == hook.dataset.variants
    ckpt = torch.load(osp.join(again.work_dir, 'epoch_3.pth'),
                      weights_only=False)
    assert ckpt['tada']['verdicts'] == [
        [s, v, a] for (s, v), a in sorted(hook.state.verdicts.items())]


def test_novelty_is_variant_qualitys_and_copies_have_none(
        cls_cfg, tmp_path, pixel_weights):
    reader = SampleReader(Digits(split='train', indices=40, pipeline=[]))
    runner = Runner.from_cfg(cls_cfg())
    flt = LabelAgreement(min_ratio=0.5, strengths=(0.9, 0.5),
                         novelty_floor=0.3).bind(runner.cfg, runner.model)
    sources = [0, 5, 9]
    copies = make_variants(pixel(pixel_weights, 0.0), reader, sources, 1, 0,
                           str(tmp_path))
    edits = make_variants(pixel(pixel_weights, 0.9), reader, sources, 1, 0,
                          str(tmp_path))
    got = flt.assess(reader, copies.cache, copies.pairs)
    assert [kept for kept, _ in got] == [True] * 3
    assert np.allclose([n for _, n in got], 0, atol=1e-3)
    got = flt.assess(reader, edits.cache, edits.pairs)
    assert all(n > 0 for _, n in got)
    # the unit: variant_quality's class spread over the first 50 of each
    # class (here every image of the 40), measured once
    labels = reader.gt_labels()
    probs, feats = flt.scorer.classify(reader, None,
                                       [(s, None) for s in range(40)])
    unit = class_spread(feats, labels)
    _, var = flt.scorer.classify(reader, edits.cache, edits.pairs)
    expect = [cosine_distance(var[k], feats[s]) / unit[labels[s]]
              for k, (s, _) in enumerate(edits.pairs)]
    assert np.allclose([n for _, n in got], expect, rtol=1e-5)
    assert flt.judge(reader, edits.cache, edits.pairs) == \
        [k for k, _ in got]
    # without a floor nothing is measured
    plain = LabelAgreement(min_ratio=0.5).bind(cls_cfg(), flt.scorer.model)
    assert all(np.isnan(n) for _, n in plain.assess(reader, edits.cache,
                                                     edits.pairs))


def test_the_hook_walks_a_ladder_and_records_each_strength(
        cls_cfg, pixel_weights):
    flt = dict(type='mmtada.LabelAgreement', min_ratio=1.0,
               strengths=(0.9, 0.5, 0.1))
    cfg = cls_cfg(max_epochs=2, select_epoch=1, num_variants=2,
                  generator=pixel(pixel_weights), variant_filter=flt)
    runner = Runner.from_cfg(cfg)
    runner.train()
    layout = RunLayout(runner.work_dir)
    served = json.load(open(layout.served))
    gen = json.load(open(layout.generation))
    cache = lag_hook(runner).dataset._cache
    assert cache.settings['ladder'] == [0.9, 0.5, 0.1]
    assert served['strengths'] == [
        None if v is None else cache.strength_of(v)
        for _, v in served['pairs']]
    assert sum(gen['strengths'].values()) == len(served['pairs'])
    assert set(gen['strengths']) <= {'0.9', '0.5', '0.1', 'source'}
    assert gen['settings']['ladder'] == [0.9, 0.5, 0.1]


def test_bad_filter_settings_are_clear():
    with pytest.raises(ValueError, match='max_tries must be >= 1'):
        LabelAgreement(max_tries=0)
    with pytest.raises(KeyError, match='LabelAgreemnt'):
        from mmtada.engine.hooks import LearningLagHook
        LearningLagHook(variant_filter=dict(type='mmtada.LabelAgreemnt'))


def test_detection_steps_the_background_strength_and_keeps_boxes(
        det_cfg, pixel_weights, tmp_path):
    from mmtada.apis import build_sample_reader
    from mmtada.generators import StrengthLadder, layout_mask
    cfg = det_cfg()
    reader = build_sample_reader(cfg)
    runner = Runner.from_cfg(cfg)
    generator = dict(type='mmtada.BoxPreservingSDEdit', box_strength=0.0,
                     generator=dict(type='mmtada.PixelSDEdit',
                                    weights=pixel_weights,
                                    num_inference_steps=10))
    # the untrained detector finds no box on a source, so keeps each
    # variant at the first step
    flt = LabelAgreement(strengths=(0.8, 0.4)).bind(runner.cfg,
                                                    runner.model)
    made = make_variants(generator, reader, [0, 3], 1, 0, str(tmp_path),
                         variant_filter=flt)
    low = make_variants(generator, reader, [0, 3], 1, 0, str(tmp_path),
                        ladder=StrengthLadder([0.4]))
    assert [made.cache.strength_of(v) for _, v in made.pairs] == [0.8] * 2
    assert made.counts['strengths'] == {'0.8': 2, '0.4': 0}
    for (s, v), (_, w) in zip(made.pairs, low.pairs):
        src = reader.source_image(s)
        inside = layout_mask(src.shape, reader.source_annotation(s)['bboxes'],
                             0.1, 2)
        high_img, low_img = made.cache.read(s, v), low.cache.read(s, w)
        for img in (high_img, low_img):
            assert np.array_equal(img[inside], src[inside])
        # the scene moves further at the higher step
        assert np.abs(high_img - src.astype(float)).mean() > \
            np.abs(low_img - src.astype(float)).mean()
    floor = LabelAgreement(strengths=(0.8, 0.4), novelty_floor=0.3).bind(
        runner.cfg, runner.model)
    with pytest.raises(ValueError, match='remove it from the detection'):
        floor.assess(reader, made.cache, made.pairs[:1])
