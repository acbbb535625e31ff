"""The test pipeline of the configs users have."""
import pytest
from mmengine.config import Config

from mmtada.utils.config_pipeline import config_test_pipeline


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
