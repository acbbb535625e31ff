"""TADADataset around mmdet datasets (COCO files written by the tests)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

from mmtada.datasets import TADADataset
from mmtada.generators import VariantCache

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs')
]
CLASSES = tuple(str(d) for d in range(10))


def coco(root, ann='annotations/train.json', pipeline=PIPELINE, **kw):
    return dict(type='mmdet.CocoDataset', data_root=root, ann_file=ann,
                data_prefix=dict(img=''), metainfo=dict(classes=CLASSES),
                pipeline=pipeline, **kw)


def with_variants(ds, tmp_path):
    cache = VariantCache(str(tmp_path / 'cache'), ds.reader.fingerprint(),
                         dict(type='inv'))
    pairs = [(s, v) for s in (1, 3) for v in range(2)]
    for s, v in pairs:
        cache.write(s, v, 255 - ds.reader.source_image(s))
    ds.set_variants(cache, pairs)
    return cache


def test_variants_carry_path_new_id_size_and_the_same_boxes(
        digit_canvases, tmp_path):
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = TADADataset(coco(digit_canvases), num_slots=8)
        assert ds.is_detection and len(ds) == 56
        cache = with_variants(ds, tmp_path)
        base_ids = {ds.get_data_info(i)['img_id'] for i in range(48)}
        ids = set()
        for idx in range(48, 56):
            info = ds.get_data_info(idx)
            src = ds.dataset.get_data_info(info['source_idx'])
            assert info['is_synthetic']
            assert info['img_path'].startswith(cache.dir)
            assert (info['width'], info['height']) == (src['width'],
                                                       src['height'])
            assert info['instances'] == src['instances']
            ids.add(info['img_id'])
        assert len(ids) == 4 and not ids & base_ids  # 4 variants, cycled
        item = ds[48]
        sample = item['data_samples']
        assert sample.metainfo['is_synthetic'] and sample.source_idx == 1
        src_item = ds[1]
        assert np.array_equal(sample.gt_instances.bboxes.tensor,
                              src_item['data_samples'].gt_instances.bboxes
                              .tensor)
        assert np.array_equal(item['inputs'].numpy(),
                              255 - src_item['inputs'].numpy())


def test_source_annotation_and_fingerprint_follow_the_boxes(
        digit_canvases, tmp_path):
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = TADADataset(coco(digit_canvases), num_slots=0)
        ann = ds.reader.source_annotation(0)
        info = ds.dataset.get_data_info(0)
        assert ann['bboxes'].shape == (len(info['instances']), 4)
        assert ann['labels'].tolist() == [
            i['bbox_label'] for i in info['instances']]
        assert ann['class_name'].split(', ')[0] == CLASSES[ann['labels'][0]]
        with open(osp.join(digit_canvases, 'annotations/train.json')) as f:
            data = json.load(f)
        data['annotations'][0]['bbox'][0] += 1
        moved = tmp_path / 'moved.json'
        moved.write_text(json.dumps(data))
        other = TADADataset(coco(digit_canvases, ann=str(moved)),
                            num_slots=0)
        assert other.reader.fingerprint() != ds.reader.fingerprint()
        with pytest.raises(TypeError, match='no per-image label'):
            ds.reader.gt_labels()


def test_inside_multi_image_mix_dataset(digit_canvases, tmp_path):
    from mmdet.datasets import MultiImageMixDataset
    with DefaultScope.overwrite_default_scope('mmdet'):
        mix = MultiImageMixDataset(
            dataset=dict(type='mmtada.TADADataset', num_slots=8,
                         dataset=coco(digit_canvases, pipeline=PIPELINE[:2])),
            pipeline=[dict(type='Mosaic', img_scale=(96, 72)),
                      dict(type='PackDetInputs')])
        assert len(mix) == 56
        with_variants(mix.dataset, tmp_path)
        out = mix[50]
        assert out['inputs'].shape[0] == 3
        assert len(out['data_samples'].gt_instances) > 0


@pytest.mark.parametrize('mode', ['L', 'LA', 'RGBA', 'P', 'I;16'])
def test_source_images_of_any_mode_arrive_as_rgb(tmp_path, mode):
    img = Image.fromarray(
        np.random.RandomState(0).randint(0, 255, (30, 40, 3), np.uint8))
    img = img.convert('L').convert('I;16') if mode == 'I;16' \
        else img.convert(mode)
    img.save(tmp_path / 'a.png')
    json.dump(dict(
        images=[dict(id=1, file_name='a.png', width=40, height=30)],
        annotations=[dict(id=1, image_id=1, category_id=1, iscrowd=0,
                          bbox=[2, 2, 10, 10], area=100)],
        categories=[dict(id=1, name='0')]), open(tmp_path / 'a.json', 'w'))
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = TADADataset(dict(coco(str(tmp_path), ann='a.json'),
                              metainfo=dict(classes=('0', ))), num_slots=0)
        rgb = ds.reader.source_image(0)
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    if mode in ('L', 'LA', 'I;16'):
        assert np.array_equal(rgb[..., 0], rgb[..., 2])
    ref = cv2.cvtColor(np.asarray(img.convert('RGB')), cv2.COLOR_RGB2BGR) \
        if mode != 'I;16' else None
    if ref is not None:
        assert np.abs(rgb.astype(int) - ref[..., ::-1]).max() <= 1
