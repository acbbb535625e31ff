"""The probe's pipeline helpers, on the pipelines users' configs have."""
import pytest
from mmengine.config import Config

from mmtada.engine.train_set_probe import (DET_META_KEYS,
                                           config_test_pipeline,
                                           with_sample_idx)


def test_the_test_pipeline_comes_from_test_then_val_loader():
    pipe = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(pipeline=pipe)),
                      val_dataloader=dict(dataset=dict(pipeline=[]))))
    got = config_test_pipeline(cfg)
    assert got == pipe and got is not pipe  # a copy
    cfg = Config(dict(val_dataloader=dict(dataset=dict(pipeline=pipe))))
    assert config_test_pipeline(cfg) == pipe
    with pytest.raises(ValueError, match='neither test_dataloader nor'):
        config_test_pipeline(Config(dict(train_dataloader=dict())))


def test_sample_idx_is_added_to_the_packing_meta_keys():
    mmdet_test = [dict(type='Resize'), dict(
        type='PackDetInputs', meta_keys=('img_id', 'img_path'))]
    out = with_sample_idx(mmdet_test)
    assert out[-1]['meta_keys'] == ('img_id', 'img_path', 'sample_idx')
    assert mmdet_test[-1]['meta_keys'] == ('img_id', 'img_path')  # copied
    assert with_sample_idx(out) == out  # once
    # mmdet's defaults drop sample_idx: they are spelled out with it
    bare = with_sample_idx([dict(type='mmdet.PackDetInputs')])
    assert bare[0]['meta_keys'] == DET_META_KEYS + ('sample_idx', )
    # mmpretrain's PackInputs keeps sample_idx by default: left alone
    assert with_sample_idx([dict(type='PackInputs')]) == [
        dict(type='PackInputs')]
