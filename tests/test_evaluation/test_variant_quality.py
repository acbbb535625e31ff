"""The variant-quality measures, on crafted cases."""
import numpy as np
import pytest

from mmtada.evaluation.variant_quality import (class_spread,
                                               cosine_distance, per_class,
                                               quality_table,
                                               reals_per_class,
                                               summarize_quality,
                                               variant_rows)


def crafted():
    """Two classes; sources 0 (class 0) and 1 (class 1), features on two
    axes; three variants of source 0: a copy, an image of the other class,
    noise."""
    labels = {0: 0, 1: 1}
    probs = {0: np.array([0.8, 0.2]), 1: np.array([0.1, 0.9])}
    feats = {0: np.array([1.0, 0.0]), 1: np.array([0.0, 1.0])}
    var_probs = np.array([[0.8, 0.2], [0.1, 0.9], [0.5, 0.5]])
    var_feats = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    spread = {0: 0.5, 1: 0.5}
    return (labels, probs, feats, var_probs, var_feats, spread)


def test_a_copy_keeps_its_label_and_is_not_new():
    labels, probs, feats, vp, vf, spread = crafted()
    rows = variant_rows([0], labels, probs, feats,
                        [(0, 0), (0, 1), (0, 2)], vp, vf, spread,
                        [0.0, 900.0, 400.0])
    copy, other, noise = rows
    assert copy['kept'] and copy['novelty'] == pytest.approx(0.0)
    assert copy['confidence_ratio'] == pytest.approx(1.0)
    assert copy['psnr'] == float('inf')
    # an image of another class: label lost, as new as two images apart
    assert not other['kept'] and other['novelty'] == pytest.approx(2.0)
    assert other['confidence_ratio'] == pytest.approx(0.125)
    # noise: half-way features, an undecided label
    assert noise['novelty'] == pytest.approx(
        (1 - np.sqrt(0.5)) / 0.5, rel=1e-6)
    assert copy['sibling_novelty'] == other['sibling_novelty'] > 0
    summary = summarize_quality(rows)
    assert summary['label_kept'] == pytest.approx(2 / 3)  # argmax 0.5/0.5
    assert summary['source_label_kept'] == 1.0
    assert summary['label_kept_relative'] == pytest.approx(2 / 3)
    assert summary['psnr'] == pytest.approx(10 * np.log10(255**2 / 433.33),
                                            abs=0.01)
    table = quality_table(dict(all=summary, **per_class(rows, ['a', 'b'])))
    assert '| all | 3 | 0.667 | 1.000 |' in table and '| a |' in table


def test_the_novelty_unit_is_the_median_distance_within_a_class():
    rng = np.random.RandomState(0)
    feats = np.concatenate([rng.randn(30, 8) + 5, rng.randn(30, 8) - 5])
    labels = np.array([0] * 30 + [1] * 30)
    spread = class_spread(feats, labels)
    d = [cosine_distance(feats[i], feats[j]) for i in range(30)
         for j in range(30) if i != j]
    assert spread[0] == pytest.approx(np.median(d), rel=0.15)
    assert set(spread) == {0, 1}


def test_novelty_is_measured_on_the_sources_and_enough_reals_per_class():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 3)
    sources = [1, 2, 3, 4, 15]   # four of class 0, one of class 1
    reals = reals_per_class(labels, sources, per_class=3)
    assert set(sources) <= set(reals) and reals == sorted(reals)
    counts = np.bincount(labels[reals], minlength=3)
    # class 0 keeps all four sources (more than per_class); class 1 is
    # filled up to 3; class 2 has no source and all its 3 images
    assert counts.tolist() == [4, 3, 3]
