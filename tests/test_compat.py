"""The fixes of ``mmtada/compat.py`` that concern users' launches."""
import os

import pytest
import torch
from mmengine.dist import init_dist


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CPU-only machine')
def test_nccl_without_cuda_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(os.environ, 'RANK', '0')
    monkeypatch.setitem(os.environ, 'LOCAL_RANK', '0')
    with pytest.raises(RuntimeError,
                       match='env_cfg.dist_cfg.backend=gloo'):
        init_dist('pytorch', backend='nccl')
    assert not torch.distributed.is_initialized()
