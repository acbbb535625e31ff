"""Every config in configs/ parses, and what it names builds."""
import glob
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, HOOKS, MODELS

from mmtada.apis import run_config
from mmtada.datasets import TADADataset
from mmtada.engine.hooks import DetLearningLagHook, LearningLagHook
from mmtada.engine.instance_lag_tracker import detector_num_classes

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')))
SHARED = os.environ.get(
    'MMTADA_SHARED_DATA', osp.join(REPO, '..', 'shared', 'data'))


def test_there_are_configs():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'tada_resnet50_cifar100.py', 'tada_resnet18_cifar10.py',
            'tada_resnet18_imagefolder.py', 'tada_resnet18_digits.py',
            'tada_faster-rcnn_r50_fpn_1x_coco.py',
            'tada_retinanet_r50_fpn_1x_coco.py',
            'tada_faster-rcnn_r50_fpn_bccd.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path, monkeypatch):
    data = 'bccd' if 'bccd' in path else 'cifar10-subset'
    monkeypatch.setenv('DATA_ROOT', osp.join(SHARED, data))
    cfg = Config.fromfile(path)
    assert cfg.default_scope in ('mmpretrain', 'mmdet')
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        # as tools/train.py builds them (restart mode: each run's hook)
        hooks = [HOOKS.build(h) for h in run_config(cfg).custom_hooks]
        assert any(isinstance(h, LearningLagHook) for h in hooks)
        wrapper = cfg.train_dataloader.dataset
        assert wrapper.type == 'mmtada.TADADataset'
        assert '_scope_' not in wrapper  # inner builds keep their scope
        inner = wrapper.dataset
        detection = cfg.default_scope == 'mmdet'
        if detection:
            assert any(isinstance(h, DetLearningLagHook) for h in hooks)
        if 'CIFAR' in inner.type:  # needs a download
            assert inner.get('_scope_') == 'mmpretrain'
            return
        if inner.type == 'CocoDataset' and 'bccd' not in path:
            return  # COCO itself is not here
        if not osp.isdir(osp.join(SHARED, data)):
            pytest.skip(f'shared {data} absent')
        ds = DATASETS.build(wrapper)
        assert isinstance(ds, TADADataset) and len(ds) > ds.num_base
        classes = detector_num_classes(model) if detection \
            else model.head.num_classes
        assert classes == len(ds.CLASSES)


def test_every_config_path_a_config_names_exists():
    """Comments in configs/ point users at other configs: each named
    ``configs/....py`` path exists (a renamed config cannot leave a
    pointer to nothing)."""
    import re
    files = sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                             recursive=True))
    assert osp.join(REPO, 'configs', '_base_', 'tada_cls.py') in files
    named = {}
    for path in files:
        for ref in re.findall(r'configs/[\w./-]+?\.py\b', open(path).read()):
            named.setdefault(ref, []).append(osp.relpath(path, REPO))
    assert 'configs/tada_resnet18_digits_purepy.py' in named
    missing = {ref: by for ref, by in named.items()
               if not osp.isfile(osp.join(REPO, ref))}
    assert not missing, f'configs name files that do not exist: {missing}'
