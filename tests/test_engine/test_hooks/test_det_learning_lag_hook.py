"""DetLearningLagHook on real mmdet detectors (CPU-sized)."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from mmtada.engine.hooks import DetLearningLagHook
from mmtada.generators import layout_mask


def lag_hook(runner) -> DetLearningLagHook:
    return [h for h in runner.hooks if isinstance(h, DetLearningLagHook)][0]


def box_preserving(weights):
    return dict(type='mmtada.BoxPreservingSDEdit', box_strength=0.0,
                margin=0.1, generator=dict(
                    type='mmtada.PixelSDEdit', weights=weights,
                    num_inference_steps=10))


def test_crafted_predictions_score_instances_by_identity(det_cfg):
    runner = Runner.from_cfg(det_cfg())
    hook = lag_hook(runner)
    hook.before_train(runner)
    index = hook.tracker.index
    ds = hook.dataset.dataset
    n_inst = sum(len(ds.get_data_info(i)['instances']) for i in range(48))
    assert index.num_instances == n_inst
    outputs = []
    for image, right in ((0, True), (1, False)):
        boxes = index.bboxes[image]
        labels = index.labels[index.numbers(image)]
        sample = DetDataSample(metainfo=dict(sample_idx=image))
        sample.pred_instances = InstanceData(
            bboxes=boxes + 0.5, scores=torch.full((len(boxes), ), 0.8),
            labels=labels if right else (labels + 1) % 10)
        outputs.append(sample)
    hook.tracker.consume(outputs)
    hook.state.stats.end_epoch(1)
    correct = hook.state.stats.correct[-1]
    first, second = index.numbers(0), index.numbers(1)
    assert correct[first].eq(1).all() and correct[second].eq(0).all()
    assert hook.state.stats.confidence[-1][first].sub(0.8).abs().max() < 1e-5
    others = torch.ones(index.num_instances, dtype=torch.bool)
    others[torch.cat([first, second])] = False
    assert torch.isnan(correct[others]).all()  # not probed


def test_faster_rcnn_selects_and_trains_on_box_valid_variants(
        det_cfg, pixel_weights):
    # After one epoch the tiny detector finds nothing: every instance is
    # unlearned, and images with two or more of them are selected (no cap:
    # the fragment's max_fraction would keep only the hardest 35%).
    runner = Runner.from_cfg(det_cfg(generator=box_preserving(pixel_weights),
                                     min_instances=2, max_fraction=None))
    runner.train()
    hook = lag_hook(runner)
    work = runner.work_dir
    with open(osp.join(work, 'tada', 'selection.json')) as f:
        sel = json.load(f)
    inst = sel['instances']
    assert len(inst['image']) == hook.tracker.index.num_instances
    assert all(0 <= v <= 1 for v in inst['learned'])
    chosen = {i for i, s in zip(inst['image'], inst['selected']) if s}
    chosen = {i for i in chosen if inst['image'].count(i) >= 2}
    assert sorted(chosen) == sel['indices'] and 0 < len(chosen) < 48
    ds = hook.dataset
    assert ds.has_variants and len(ds.variants) == 2 * len(chosen)
    for source, variant in ds.variants:
        img = ds._cache.read(source, variant)
        src = ds.reader.source_image(source)
        ann = ds.reader.source_annotation(source)
        assert img.shape == src.shape
        inside = layout_mask(src.shape, ann['bboxes'], 0.1, 2)
        assert np.array_equal(img[inside], src[inside])  # boxes still hold
        assert not np.array_equal(img, src)
    item = ds[ds.num_base]
    sample = item['data_samples']
    assert sample.is_synthetic
    assert torch.equal(sample.gt_instances.labels,
                       ds[sample.source_idx]['data_samples']
                       .gt_instances.labels)
    assert osp.exists(osp.join(work, 'epoch_2.pth'))


def test_retinanet_resumes_after_selection_without_regenerating(det_cfg):
    runner = Runner.from_cfg(det_cfg(detector='retinanet', max_epochs=2))
    runner.train()
    first = lag_hook(runner)
    assert first.state.generation['generated'] > 0
    cfg = det_cfg(detector='retinanet', max_epochs=3)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = lag_hook(runner)
    assert hook.state.selection.indices == first.state.selection.indices
    assert hook.state.selection.instances == first.state.selection.instances
    assert hook.state.generation['generated'] == 0
    assert hook.state.generation['reused'] == first.state.generation['total']
    assert hook.dataset.variants == first.dataset.variants


def test_setup_errors(det_cfg):
    cfg = det_cfg()
    cfg.model.roi_head.bbox_head.num_classes = 5
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match='outputs 5 classes but the dataset '
                       'has 10'):
        lag_hook(runner).before_train(runner)
    with pytest.raises(ValueError, match="records with the probe only"):
        DetLearningLagHook(record='train')
    with pytest.raises(ValueError, match='aggregate must be one of'):
        DetLearningLagHook(aggregate='median')
    for bad in (0, 1.5, -0.2):
        with pytest.raises(ValueError, match='min_instances is a count'):
            DetLearningLagHook(min_instances=bad)
    with pytest.raises(ValueError, match='max_fraction must be in'):
        DetLearningLagHook(max_fraction=0)


def test_a_test_cfg_that_hides_found_instances_is_named(det_cfg, capsys):
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmtada-det-test', log_level='WARNING')
    cfg = det_cfg(detector='retinanet', score_thr=0.3)
    cfg.model.test_cfg.update(score_thr=0.5, max_per_img=1)
    runner = Runner.from_cfg(cfg)
    lag_hook(runner).before_train(runner)
    out = capsys.readouterr().out
    assert 'drops predictions below score 0.5' in out
    assert 'keeps at most 1 predictions per image' in out
