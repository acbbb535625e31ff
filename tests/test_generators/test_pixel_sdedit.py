import numpy as np
import pytest

from mmtada.registry import GENERATORS
from mmtada.testing import save_tiny_pixel_model


def images(n=3, shape=(16, 16, 3)):
    return [np.random.RandomState(i).randint(0, 256, shape, dtype=np.uint8)
            for i in range(n)]


def build(weights, **kw):
    kw.setdefault('num_inference_steps', 20)
    return GENERATORS.build(dict(type='mmtada.PixelSDEdit', weights=weights,
                                 **kw))


def test_shapes_dtypes_and_seeded_determinism(pixel_weights):
    gen = build(pixel_weights)
    src = images(2, (20, 12, 3))  # resized to 16x16 and back
    ann = [dict(gt_label=1), dict(gt_label=2)]
    a = gen.generate(src, ann, [7, 8])
    assert [x.shape for x in a] == [(20, 12, 3)] * 2
    assert all(x.dtype == np.uint8 for x in a)
    b = gen.generate(src, ann, [7, 8])
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = gen.generate(src, ann, [9, 8])
    assert not np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1])
    assert not np.array_equal(a[0], src[0])


def test_strength_zero_returns_the_input(pixel_weights):
    src = images()
    out = build(pixel_weights, strength=0.0).generate(
        src, [dict(gt_label=0)] * 3, [1, 2, 3])
    assert all(np.array_equal(x, y) for x, y in zip(out, src))


def test_mask_with_inside_strength_zero_keeps_the_region(pixel_weights):
    src = images()
    mask = np.zeros((16, 16), bool)
    mask[3:9, 5:12] = True
    gen = build(pixel_weights, strength=0.8, strength_inside=0.0)
    out = gen.generate(src, [dict(gt_label=0, mask=mask)] * 3, [1, 2, 3])
    for x, y in zip(out, src):
        assert np.array_equal(x[mask], y[mask])
        assert not np.array_equal(x[~mask], y[~mask])
    # the other way round: objects change, the scene stays
    gen = build(pixel_weights, strength=0.0, strength_inside=0.8)
    out = gen.generate(src, [dict(gt_label=0, mask=mask)] * 3, [1, 2, 3])
    assert np.array_equal(out[0][~mask], src[0][~mask])
    assert not np.array_equal(out[0][mask], src[0][mask])


def test_class_conditioning_changes_the_output(pixel_weights):
    gen = build(pixel_weights)
    src = images(1)
    a = gen.generate(src, [dict(gt_label=1)], [5])[0]
    b = gen.generate(src, [dict(gt_label=7)], [5])[0]
    assert not np.array_equal(a, b)


def test_ddpm_scheduler_is_seeded_too(pixel_weights):
    gen = build(pixel_weights, scheduler='ddpm')
    src = images(2)
    ann = [dict(gt_label=0)] * 2
    assert all(np.array_equal(x, y) for x, y in zip(
        gen.generate(src, ann, [1, 2]), gen.generate(src, ann, [1, 2])))


def test_settings_key_the_cache(pixel_weights, tmp_path):
    a = build(pixel_weights).settings()
    b = build(pixel_weights, strength=0.6).settings()
    other = save_tiny_pixel_model(str(tmp_path / 'other'), seed=1)
    c = build(other).settings()
    assert a != b and a['weights'] != c['weights']


def test_bad_weights_are_clear(pixel_weights, latent_weights, tmp_path):
    with pytest.raises(FileNotFoundError, match='save_pretrained'):
        build(str(tmp_path / 'nothing' / 'here'))
    with pytest.raises(ValueError, match='LatentSDEdit'):
        build(latent_weights)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        build(pixel_weights, strength=1.5)


def test_a_strength_per_image_gives_each_image_it_would_get_alone(
        pixel_weights):
    src = images(4)
    strengths = [0.5, 0.2, 0.5, 0.8]
    ann = [dict(gt_label=i, strength=s) for i, s in enumerate(strengths)]
    mixed = build(pixel_weights, strength=0.3).generate(src, ann,
                                                        [1, 2, 3, 4])
    for i, s in enumerate(strengths):
        alone = build(pixel_weights, strength=s).generate(
            [src[i]], [dict(gt_label=i)], [i + 1])[0]
        assert np.array_equal(mixed[i], alone)
    assert not np.array_equal(mixed[0], mixed[2])  # different seeds
    with pytest.raises(ValueError, match=r'strengths must be in \[0, 1\]'):
        build(pixel_weights).generate(src[:1], [dict(gt_label=0,
                                                     strength=1.5)], [1])
