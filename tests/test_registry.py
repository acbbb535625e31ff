"""`type='mmtada.X'` resolves from mmpretrain's and mmdet's scopes."""
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmtada.datasets import TADADataset
from mmtada.engine.hooks import LearningLagHook


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet'])
def test_scope_prefix_resolves_from_host_scope(scope):
    registry = pytest.importorskip(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        hook = registry.HOOKS.build(dict(type='mmtada.LearningLagHook'))
        assert isinstance(hook, LearningLagHook)
        ds = registry.DATASETS.build(dict(
            type='mmtada.TADADataset', num_slots=2,
            dataset=dict(type='mmtada.Digits', split='test', indices=4,
                         pipeline=[])))
        assert isinstance(ds, TADADataset) and len(ds) == 6


def test_inner_dataset_keeps_the_host_scope():
    """The wrapper carries no _scope_, so a bare inner type resolves in
    the config's default scope (here mmpretrain's CustomDataset)."""
    from mmpretrain.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ds = DATASETS.build(dict(
            type='mmtada.TADADataset', num_slots=0,
            dataset=dict(type='mmtada.Digits', split='test', indices=3,
                         pipeline=[dict(type='PackInputs')])))
    assert ds[0]['data_samples'].metainfo['source_idx'] == 0


def test_custom_imports_registers_mmtada(tmp_path):
    path = tmp_path / 'c.py'
    path.write_text("custom_imports = dict(imports=['mmtada'], "
                    'allow_failed_imports=False)\n'
                    "h = dict(type='mmtada.LearningLagHook')\n")
    cfg = Config.fromfile(str(path))
    from mmpretrain.registry import HOOKS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        assert isinstance(HOOKS.build(cfg.h), LearningLagHook)
