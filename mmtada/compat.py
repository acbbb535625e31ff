"""Fixes for known breakages of the pinned OpenMMLab stack with current torch.

Applied once, at ``import mmtada``, before anything imports torchvision or
``mmpretrain.models``. Each fix is guarded: with a stack that does not need
it (e.g. a matching CUDA torch/torchvision pair on a GPU machine) it does
nothing. See README "Install" for the why of each.
"""
import importlib.util
import os
import sys
import types


def _torchvision_ops_load() -> bool:
    """Whether torchvision's compiled ops match the installed torch.

    Probed in a child-free way: loading ``torchvision/_C*.so`` through
    ``torch.ops.load_library`` fails when the two builds do not match.
    """
    spec = importlib.util.find_spec('torchvision')
    if spec is None or spec.submodule_search_locations is None:
        return True
    import glob

    import torch
    folder = list(spec.submodule_search_locations)[0]
    libs = glob.glob(os.path.join(folder, '_C*.so'))
    if not libs:
        return False
    try:
        torch.ops.load_library(libs[0])
    except (OSError, RuntimeError):
        return False
    return True


def patch_torchvision() -> None:
    """Let torchvision import when its compiled ops do not match torch.

    torchvision registers fake kernels for its ops at import
    (``torchvision._meta_registrations``); without the compiled library
    that raises ``RuntimeError: operator torchvision::nms does not exist``,
    which escapes the ImportError guards of mmengine, mmpretrain, mmdet and
    transformers. With an empty stand-in for that module, transforms,
    models and ``box_iou`` work; only ``torchvision.ops.nms`` raises.
    """
    if 'torchvision' in sys.modules or _torchvision_ops_load():
        return
    sys.modules.setdefault('torchvision._meta_registrations',
                           types.ModuleType('torchvision._meta_registrations'))


def patch_mmpretrain_multimodal() -> None:
    """Skip mmpretrain 1.2.0's BLIP/Flamingo modules under transformers 5.

    Their import fails with ``TypeError: NoneType takes no arguments``;
    with ``WITH_MULTIMODAL = False`` mmpretrain registers placeholders.
    """
    if importlib.util.find_spec('mmpretrain') is None:
        return
    if 'mmpretrain.models' in sys.modules:
        return
    try:
        import transformers
    except ImportError:
        return
    from mmengine.utils import digit_version
    if digit_version(transformers.__version__) >= digit_version('4.57.0'):
        from mmpretrain.utils import dependency
        dependency.WITH_MULTIMODAL = False


def patch_checkpoint_loading() -> None:
    """Let mmengine 0.10.7 load its own checkpoints under torch >= 2.6.

    torch 2.6 made ``torch.load`` default to ``weights_only=True``, while
    mmengine checkpoints hold ``HistoryBuffer`` and numpy objects, so
    ``--resume`` and ``load_from`` fail with an UnpicklingError. The local
    loader is re-registered with ``weights_only=False``: these are the
    user's own trusted checkpoints. mmtada's own state stays
    weights_only-safe regardless.
    """
    import torch
    from mmengine.runner.checkpoint import CheckpointLoader
    if 'weights_only' not in torch.load.__code__.co_varnames:
        return

    def load_from_local(filename, map_location):
        filename = os.path.expanduser(filename)
        if not os.path.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        return torch.load(filename, map_location=map_location,
                          weights_only=False)

    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


def patch_cpu_distributed() -> None:
    """Let ``--launcher pytorch`` (torchrun) run on machines without CUDA.

    mmengine calls ``torch.cuda.set_device`` in ``_init_dist_pytorch`` and
    passes ``device_ids=[LOCAL_RANK]`` to DDP unconditionally; neither works
    on CPU. Without CUDA the process group is started directly and DDP gets
    no device ids. The group must then use gloo (nccl needs GPUs); asking
    for another backend is one clear error.
    """
    import torch
    if torch.cuda.is_available():
        return
    import torch.distributed as torch_dist
    from mmengine.dist import utils

    def init_cpu(backend, init_backend='torch', **kwargs):
        if backend != 'gloo':
            raise RuntimeError(
                f"distributed backend '{backend}' needs GPUs and this "
                'machine has no CUDA device: on CPU use gloo, e.g. '
                '--cfg-options env_cfg.dist_cfg.backend=gloo.')
        torch_dist.init_process_group(backend=backend, **kwargs)

    utils._init_dist_pytorch = init_cpu

    from mmengine.model import MMDistributedDataParallel
    wrap = MMDistributedDataParallel.__init__

    def wrap_on_cpu(self, module, *args, **kwargs):
        kwargs['device_ids'] = None
        wrap(self, module, *args, **kwargs)

    MMDistributedDataParallel.__init__ = wrap_on_cpu


def apply_all() -> None:
    patch_torchvision()
    patch_mmpretrain_multimodal()
    patch_checkpoint_loading()
    patch_cpu_distributed()
