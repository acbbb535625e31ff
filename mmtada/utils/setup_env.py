"""The pinned stack's known breakages and mmtada's fixes, in one place.

The stack (requirements/*.txt, tools/install.sh): torch 2.13.0 (a CPU
wheel on CI; GPU users bring their CUDA build) with torchvision 0.28.0,
mmengine 0.10.7, mmpretrain 1.2.0, mmdet 3.3.0, transformers 5.24.0.

Each fix has a guard, true only on a stack that needs the fix; with its
guard false a fix changes nothing. ``import mmtada`` applies the first
three, the ones mmpretrain's and mmdet's own ``tools/train.py`` need when
they import mmtada through ``custom_imports`` (and before anything
imports torchvision or ``mmpretrain.models``). :func:`setup_env`, the
first call of every mmtada tool, applies them all.

fix                    needed with (its guard)                  applied
---------------------  ---------------------------------------  ---------
torchvision_ops        torchvision whose compiled ops do not    import
                       load with the installed torch (the CPU
                       torch 2.13.0 wheel beside PyPI's
                       torchvision 0.28.0)
mmpretrain_multimodal  mmpretrain <= 1.2.0, transformers        import
                       >= 4.57
safe_checkpoints       mmengine <= 0.10.7, torch >= 2.6         import
                       (torch.load defaults to weights_only)
cpu_distributed        mmengine <= 0.10.7, no CUDA (the tools'  setup_env
                       --launcher pytorch, with gloo)
"""
import importlib.metadata
import importlib.util
import os
import sys
import types
from typing import Callable, List, NamedTuple, Optional


class Fix(NamedTuple):
    name: str
    needed_with: str
    needed: Callable[[], bool]  # the guard
    apply: Callable[[], None]
    at_import: bool


def _version(dist: str) -> Optional[str]:
    """The installed version of the distribution ``dist``, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _at_least(dist: str, version: str) -> bool:
    from mmengine.utils import digit_version
    installed = _version(dist)
    return installed is not None and digit_version(
        installed) >= digit_version(version)


def _at_most(dist: str, version: str) -> bool:
    from mmengine.utils import digit_version
    installed = _version(dist)
    return installed is not None and digit_version(
        installed) <= digit_version(version)


# -- torchvision whose compiled ops do not match torch -----------------------
def _torchvision_ops_load() -> bool:
    """Whether torchvision's compiled ops load with the installed torch
    (``torch.ops.load_library`` of ``torchvision/_C*.so``, as importing
    torchvision does)."""
    import glob

    import torch
    spec = importlib.util.find_spec('torchvision')
    folder = list(spec.submodule_search_locations)[0]
    libs = glob.glob(os.path.join(folder, '_C*.so'))
    if not libs:
        return False
    try:
        torch.ops.load_library(libs[0])
    except (OSError, RuntimeError):
        return False
    return True


def torchvision_ops_needed() -> bool:
    if 'torchvision' in sys.modules or 'torchvision._meta_registrations' in \
            sys.modules or importlib.util.find_spec('torchvision') is None:
        return False
    return not _torchvision_ops_load()


def torchvision_ops_apply() -> None:
    """torchvision registers fake kernels for its ops at import
    (``torchvision._meta_registrations``); without the compiled library
    that raises ``RuntimeError: operator torchvision::nms does not exist``,
    which escapes the ImportError guards of mmengine, mmpretrain, mmdet
    and transformers. With an empty stand-in for that module, transforms,
    models and ``box_iou`` work; only ``torchvision.ops.nms`` raises."""
    sys.modules['torchvision._meta_registrations'] = types.ModuleType(
        'torchvision._meta_registrations')


# -- mmpretrain's BLIP/Flamingo under transformers 5 -------------------------
def mmpretrain_multimodal_needed() -> bool:
    dependency = sys.modules.get('mmpretrain.utils.dependency')
    if 'mmpretrain.models' in sys.modules or (
            dependency is not None and not dependency.WITH_MULTIMODAL):
        return False  # too late, or done
    return _at_most('mmpretrain', '1.2.0') and _at_least(
        'transformers', '4.57.0')


def mmpretrain_multimodal_apply() -> None:
    """mmpretrain 1.2.0's BLIP/Flamingo modules fail to import under
    transformers >= 4.57 (``TypeError: NoneType takes no arguments``); with
    ``WITH_MULTIMODAL = False`` mmpretrain registers placeholders."""
    from mmpretrain.utils import dependency
    dependency.WITH_MULTIMODAL = False


# -- mmengine's checkpoints under torch's safe unpickler ---------------------
def _torch_loads_weights_only() -> bool:
    """Whether ``torch.load`` without ``weights_only`` (as mmengine calls
    it) uses the safe unpickler: torch >= 2.6, unless the user forced it
    off with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``."""
    forced_off = os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '0')
    return _at_least('torch', '2.6.0') and forced_off.lower() not in (
        '1', 'y', 'yes', 'true')


def safe_checkpoints_needed() -> bool:
    if not (_torch_loads_weights_only() and _at_most('mmengine', '0.10.7')):
        return False
    from mmengine.runner import checkpoint
    return checkpoint.CheckpointLoader._schemes.get(
        '') is checkpoint.load_from_local  # mmengine's own, not replaced


def safe_checkpoints_apply() -> None:
    """Under torch >= 2.6 mmengine 0.10.7's ``torch.load`` refuses its own
    checkpoints (``HistoryBuffer``, numpy arrays). mmengine's local loader
    is replaced by :func:`mmtada.utils.safe_loading.load_from_local`:
    still ``weights_only=True``, with the allow-list of what mmengine's
    checkpoints hold, one clear error for anything else and a per-file
    opt-in for a trusted file."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from .safe_loading import load_from_local
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


# -- distributed training without CUDA ---------------------------------------
def cpu_distributed_needed() -> bool:
    import torch
    if torch.cuda.is_available() or not _at_most('mmengine', '0.10.7'):
        return False
    from mmengine.dist import utils
    return getattr(utils._init_dist_pytorch, '__module__',
                   None) == 'mmengine.dist.utils'  # not replaced yet


def cpu_distributed_apply() -> None:
    """mmengine calls ``torch.cuda.set_device`` in ``_init_dist_pytorch``
    and passes ``device_ids=[LOCAL_RANK]`` to DDP unconditionally; neither
    works without CUDA. The process group is started directly and DDP gets
    no device ids. The group must then use gloo (nccl needs GPUs); asking
    for another backend is one clear error."""
    import torch.distributed as torch_dist
    from mmengine.dist import utils
    from mmengine.model import MMDistributedDataParallel

    def init_cpu(backend, init_backend='torch', **kwargs):
        if backend != 'gloo':
            raise RuntimeError(
                f"distributed backend '{backend}' needs GPUs and this "
                'machine has no CUDA device: on CPU use gloo, e.g. '
                '--cfg-options env_cfg.dist_cfg.backend=gloo.')
        torch_dist.init_process_group(backend=backend, **kwargs)

    utils._init_dist_pytorch = init_cpu
    wrap = MMDistributedDataParallel.__init__

    def wrap_on_cpu(self, module, *args, **kwargs):
        kwargs['device_ids'] = None
        wrap(self, module, *args, **kwargs)

    MMDistributedDataParallel.__init__ = wrap_on_cpu


FIXES = (
    Fix('torchvision_ops', 'torchvision whose compiled ops do not load '
        'with the installed torch', torchvision_ops_needed,
        torchvision_ops_apply, at_import=True),
    Fix('mmpretrain_multimodal', 'mmpretrain <= 1.2.0 with transformers '
        '>= 4.57', mmpretrain_multimodal_needed, mmpretrain_multimodal_apply,
        at_import=True),
    Fix('safe_checkpoints', 'mmengine <= 0.10.7 with torch >= 2.6',
        safe_checkpoints_needed, safe_checkpoints_apply, at_import=True),
    Fix('cpu_distributed', 'mmengine <= 0.10.7 without CUDA',
        cpu_distributed_needed, cpu_distributed_apply, at_import=False),
)


def _apply(fixes) -> List[str]:
    applied = []
    for fix in fixes:
        if fix.needed():
            fix.apply()
            applied.append(fix.name)
    return applied


def apply_import_fixes() -> List[str]:
    """The fixes ``import mmtada`` applies, each only where its guard
    holds; returns the names of those applied."""
    return _apply(f for f in FIXES if f.at_import)


def setup_env() -> List[str]:
    """Every fix this stack needs (see the table above), for mmtada's
    tools: the first call of their ``main()``. Idempotent; returns the
    names of the fixes applied by this call."""
    return _apply(FIXES)
