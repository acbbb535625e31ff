"""Every config in configs/ parses, and what it names builds."""
import glob
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, HOOKS, MODELS

from mmtada.datasets import TADADataset
from mmtada.engine.hooks import LearningLagHook

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')))
SHARED = os.environ.get(
    'MMTADA_SHARED_DATA', osp.join(REPO, '..', 'shared', 'data'))


def test_there_are_configs():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'tada_resnet50_cifar100.py', 'tada_resnet18_cifar10.py',
            'tada_resnet18_imagefolder.py',
            'tada_resnet18_digits.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path, monkeypatch):
    monkeypatch.setenv('DATA_ROOT', osp.join(SHARED, 'cifar10-subset'))
    cfg = Config.fromfile(path)
    assert cfg.default_scope in ('mmpretrain', 'mmdet')
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        hooks = [HOOKS.build(h) for h in cfg.custom_hooks]
        assert any(isinstance(h, LearningLagHook) for h in hooks)
        wrapper = cfg.train_dataloader.dataset
        assert wrapper.type == 'mmtada.TADADataset'
        assert '_scope_' not in wrapper  # inner builds keep their scope
        inner = wrapper.dataset
        needs_download = 'CIFAR' in inner.type
        if needs_download:
            assert inner.get('_scope_') == 'mmpretrain'
            return
        if 'DATA_ROOT' in cfg.filename or 'imagefolder' in path:
            if not osp.isdir(osp.join(SHARED, 'cifar10-subset')):
                pytest.skip('shared CIFAR-10 subset absent')
        ds = DATASETS.build(wrapper)
        assert isinstance(ds, TADADataset) and len(ds) > ds.num_base
        assert model.head.num_classes == len(ds.CLASSES)
