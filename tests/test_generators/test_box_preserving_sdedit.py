import cv2
import numpy as np
import pytest

from mmtada.generators import layout_mask
from mmtada.registry import GENERATORS

BOXES = np.array([[10, 8, 40, 30], [60, 20, 90, 44]], np.float32)


def scene(shape=(48, 100, 3), seed=0):
    return np.random.RandomState(seed).randint(0, 256, shape, np.uint8)


def build(weights, **kw):
    return GENERATORS.build(dict(
        type='mmtada.BoxPreservingSDEdit',
        generator=dict(type='mmtada.PixelSDEdit', weights=weights,
                       num_inference_steps=10), **kw))


def ann(boxes=BOXES):
    return dict(gt_label=1, class_name='1', bboxes=boxes,
                labels=np.ones(len(boxes), np.int64))


@pytest.mark.parametrize('mode', ['background', 'objects'])
def test_modes_keep_one_side_exactly_and_change_the_other(pixel_weights,
                                                          mode):
    strengths = dict(background=dict(box_strength=0.0),
                     objects=dict())[mode]
    gen = build(pixel_weights, mode=mode, margin=0.1, **strengths)
    img = scene()
    out, = gen.generate([img], [ann()], [3])
    assert out.shape == img.shape and out.dtype == np.uint8
    inside = layout_mask(img.shape, BOXES, 0.1, 2)
    kept, edited = (inside, ~inside) if mode == 'background' \
        else (~inside, inside)
    assert np.array_equal(out[kept], img[kept])
    assert np.abs(out[edited].astype(int) - img[edited]).mean() > 5
    again, = gen.generate([img], [ann()], [3])
    assert np.array_equal(out, again)


@pytest.mark.parametrize('mode', ['background', 'objects'])
def test_a_ladder_step_sets_the_strength_of_the_region_the_mode_varies(
        pixel_weights, mode):
    """An annotation's ``strength`` replaces the varied region's strength
    only: the image equals the one made with that strength set, and the
    kept region stays exact."""
    fixed = dict(background=dict(box_strength=0.0),
                 objects=dict(background_strength=0.0))[mode]
    varied = dict(background='background_strength',
                  objects='box_strength')[mode]
    img, other = scene(), scene(seed=1)
    stepped = build(pixel_weights, mode=mode, **fixed).generate(
        [img, other], [dict(ann(), strength=0.2), dict(ann(), strength=0.8)],
        [3, 4])
    for src, out, s, seed in ((img, stepped[0], 0.2, 3),
                              (other, stepped[1], 0.8, 4)):
        alone, = build(pixel_weights, mode=mode, **fixed,
                       **{varied: s}).generate([src], [ann()], [seed])
        assert np.array_equal(out, alone)
    inside = layout_mask(img.shape, BOXES, 0.1, 2)
    kept = inside if mode == 'background' else ~inside
    assert np.array_equal(stepped[0][kept], img[kept])
    # a step of 0 returns the source exactly
    same, = build(pixel_weights, mode=mode, **fixed).generate(
        [img], [dict(ann(), strength=0.0)], [3])
    assert np.array_equal(same, img)


@pytest.mark.parametrize('shape', [(8, 8, 3), (97, 300, 3), (300, 41, 3)])
def test_any_size_and_aspect(pixel_weights, shape):
    gen = build(pixel_weights, box_strength=0.0)
    h, w = shape[:2]
    boxes = np.array([[w * 0.2, h * 0.2, w * 0.6, h * 0.7]], np.float32)
    img = scene(shape)
    for restore in (True, False):
        gen.restore_detail = restore
        out, = gen.generate([img], [ann(boxes)], [1])
        assert out.shape == shape
        inside = layout_mask(shape, boxes, gen.margin, gen.min_margin)
        assert np.array_equal(out[inside], img[inside])
        assert not np.array_equal(out[~inside], img[~inside])


def test_restore_detail_keeps_fine_texture_the_edit_barely_touches(
        pixel_weights):
    # A low background strength on a large image: adding the upscaled edit
    # to the source keeps its fine texture; upscaling the 16 px edit does
    # not.
    img = scene((160, 160, 3))
    a = dict(gt_label=0, class_name='0', bboxes=np.zeros((0, 4)))
    sharp, = build(pixel_weights, background_strength=0.05,
                   box_strength=0.0).generate([img], [a], [0])
    gen = build(pixel_weights, background_strength=0.05, box_strength=0.0,
                restore_detail=False)
    blurred, = gen.generate([img], [a], [0])
    err = [np.abs(x.astype(int) - img).mean() for x in (sharp, blurred)]
    assert err[0] < err[1] / 2


def test_settings_and_bad_configs(pixel_weights):
    gen = build(pixel_weights, mode='objects')
    s = gen.settings()
    assert s['type'] == 'BoxPreservingSDEdit' and s['mode'] == 'objects'
    assert (s['box_strength'], s['background_strength']) == (0.5, 0.0)
    assert s['generator']['strength_inside'] == 0.5
    with pytest.raises(ValueError, match='mode must be one of'):
        build(pixel_weights, mode='scene')
    with pytest.raises(ValueError, match='not strength/strength_inside'):
        GENERATORS.build(dict(
            type='mmtada.BoxPreservingSDEdit',
            generator=dict(type='mmtada.PixelSDEdit', weights=pixel_weights,
                           strength=0.3)))
    with pytest.raises(TypeError, match='wraps an SDEdit generator'):
        GENERATORS.build(dict(type='mmtada.BoxPreservingSDEdit',
                              generator=dict(type='mmtada.Upsample')))


def test_boxes_outside_zero_area_negative_and_none(pixel_weights):
    # Handled, not refused: parts outside are clipped, degenerate boxes
    # keep only their margin, an image without boxes is all background.
    gen = build(pixel_weights, box_strength=0.0)
    img = scene((48, 100, 3))
    odd = np.array([[80, 30, 140, 70],     # half outside
                    [-50, -40, -10, -5],   # wholly outside
                    [20, 20, 20, 20],      # zero area
                    [40, 30, 30, 20]],     # negative size
                   np.float32)
    out, empty = gen.generate([img, img], [ann(odd), ann(np.zeros((0, 4)))],
                              [0, 0])
    assert out.shape == empty.shape == img.shape
    inside = layout_mask(img.shape, odd, gen.margin, gen.min_margin)
    assert inside[30:, 80:].all() and not inside[:5, :5].any()
    assert np.array_equal(out[inside], img[inside])
    assert not np.array_equal(out[~inside], img[~inside])
    assert np.abs(empty.astype(int) - img).mean() > 5


def test_huge_image_keeps_its_size_and_boxes(pixel_weights):
    gen = build(pixel_weights, box_strength=0.0)
    img = np.full((4000, 4200, 3), 90, np.uint8)
    img[1000:3000, 1000:3000] = 200
    boxes = np.array([[1000, 1000, 3000, 3000]], np.float32)
    out, = gen.generate([img], [ann(boxes)], [0])
    assert out.shape == img.shape
    inside = layout_mask(img.shape, boxes, gen.margin, gen.min_margin)
    assert np.array_equal(out[inside], img[inside])


def test_the_edit_is_added_at_full_resolution_as_in_floats():
    """add_edit equals the float formula (upscaled delta, rounded,
    clipped) within one grey level, saturating at 0 and 255."""
    from mmtada.generators.box_preserving_sdedit import add_edit
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (301, 517, 3), np.uint8)
    img[:20] = 255
    img[-20:] = 0
    before = rng.randint(0, 256, (30, 52, 3), np.uint8)
    after = np.clip(before.astype(int) + rng.randint(-90, 90, before.shape),
                    0, 255).astype(np.uint8)
    delta = cv2.resize(after.astype(np.float32) - before, (517, 301),
                       interpolation=cv2.INTER_LINEAR)
    expect = np.clip(img + delta, 0, 255).round()
    got = add_edit(img, before, after)
    assert got.dtype == np.uint8 and got.shape == img.shape
    assert np.abs(got - expect).max() <= 1
    assert np.array_equal(add_edit(img, before, before), img)  # no edit
