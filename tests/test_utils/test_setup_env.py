"""The stack's fixes (``mmtada/utils/setup_env.py``): ``import mmtada``
changes nothing where the stack needs no fix, and the tools' explicit
``setup_env()`` makes ``--launcher pytorch`` work on a CPU machine."""
import json
import os
import subprocess
import sys

import pytest
import torch
from mmengine.dist import init_dist
from mmengine.dist import utils as dist_utils
from mmengine.model import MMDistributedDataParallel

from mmtada.utils import setup_env

# Runs in a fresh interpreter: fakes the guards' inputs when asked, records
# what each fix would change, imports mmtada, records again.
SNAPSHOT = r'''
import importlib.metadata, json, sys
import torch
if {fake}:
    # a stack that needs no fix: CUDA, a torch before the weights_only
    # default, a transformers before 4.57, torchvision ops that load
    real = importlib.metadata.version
    newer = dict(torch='2.5.1', transformers='4.56.0')
    importlib.metadata.version = lambda d: newer.get(d) or real(d)
    torch.cuda.is_available = lambda: True
    torch.ops.load_library = lambda path: None
import mmengine.dist.utils as dist_utils
from mmengine.model import MMDistributedDataParallel
from mmengine.runner.checkpoint import CheckpointLoader


def name(f):
    return f'{{f.__module__}}.{{f.__qualname__}} at {{id(f)}}'


def state():
    dependency = sys.modules.get('mmpretrain.utils.dependency')
    return dict(
        init_dist_pytorch=name(dist_utils._init_dist_pytorch),
        ddp_init=name(MMDistributedDataParallel.__init__),
        loaders={{k: name(f) for k, f in CheckpointLoader._schemes.items()}},
        safe_globals=sorted(map(repr, torch.serialization.get_safe_globals())),
        stand_ins=repr(sys.modules.get('torchvision._meta_registrations')),
        multimodal=None if dependency is None else dependency.WITH_MULTIMODAL,
        mmpretrain_models='mmpretrain.models' in sys.modules)


before = state()
import mmtada
from mmtada.utils import setup_env
after = state()
needed = {{f.name: f.needed() for f in setup_env.FIXES}}
print(json.dumps(dict(before=before, after=after, needed=needed)))
'''


def import_mmtada(fake: bool) -> dict:
    out = subprocess.run([sys.executable, '-c', SNAPSHOT.format(fake=fake)],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_changes_nothing_on_a_stack_that_needs_no_fix():
    seen = import_mmtada(fake=True)
    assert seen['needed'] == dict.fromkeys(seen['needed'], False)
    assert seen['after'] == seen['before']


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CPU-only machine')
def test_import_applies_only_the_guarded_fixes_this_stack_needs():
    """The pinned stack on CPU, in this process (conftest imported
    mmtada): the local checkpoint loader and mmpretrain's multimodal switch
    changed at import; mmengine's distributed start did not (the tools ask
    for it), and torch's safe globals are torch's."""
    from mmengine.runner.checkpoint import CheckpointLoader
    from mmpretrain.utils import dependency

    from mmtada.utils import safe_loading
    assert CheckpointLoader._schemes[''] is safe_loading.load_from_local
    assert dependency.WITH_MULTIMODAL is False
    assert dist_utils._init_dist_pytorch.__module__ == 'mmengine.dist.utils'
    assert MMDistributedDataParallel.__init__.__module__ == \
        'mmengine.model.wrappers.distributed'
    assert not any('mmengine' in repr(g) or 'numpy' in repr(g)
                   for g in torch.serialization.get_safe_globals())
    assert setup_env.cpu_distributed_needed()
    assert [f.name for f in setup_env.FIXES if not f.at_import] == [
        'cpu_distributed']


@pytest.fixture
def cpu_distributed(monkeypatch):
    """``setup_env()`` as a tool calls it; mmengine's originals restored
    after the test."""
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch',
                        dist_utils._init_dist_pytorch)
    monkeypatch.setattr(MMDistributedDataParallel, '__init__',
                        MMDistributedDataParallel.__init__)
    return setup_env.setup_env()


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CPU-only machine')
def test_nccl_without_cuda_is_one_clear_error(cpu_distributed, monkeypatch):
    assert 'cpu_distributed' in cpu_distributed
    assert setup_env.setup_env() == []  # once
    monkeypatch.setitem(os.environ, 'RANK', '0')
    monkeypatch.setitem(os.environ, 'LOCAL_RANK', '0')
    with pytest.raises(RuntimeError,
                       match='env_cfg.dist_cfg.backend=gloo'):
        init_dist('pytorch', backend='nccl')
    assert not torch.distributed.is_initialized()
