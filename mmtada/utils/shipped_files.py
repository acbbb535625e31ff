"""The configs and tools that ship inside the package.

``mmtada/configs`` (the TADA fragments and example configs) and
``mmtada/tools`` (the command-line tools) are part of the package: a wheel
holds them, and a clone's top-level ``configs`` and ``tools`` are links to
them. So an installed mmtada finds them wherever pip put it, with no clone.
"""
import os.path as osp

PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(PACKAGE, 'configs')
TOOLS = osp.join(PACKAGE, 'tools')


def config_path(name: str) -> str:
    """The absolute path of the shipped config ``name`` (relative to
    ``mmtada/configs``, e.g. ``'_base_/tada_cls.py'``).

    The old-style route to the fragments that does not depend on where a
    clone sits (mmengine evaluates a config's ``_base_`` line)::

        _base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py',
                  __import__('mmtada').config_path('_base_/tada_cls.py')]

    New-style configs import them instead:
    ``from mmtada.configs._base_.tada_cls import *`` in ``read_base()``.
    """
    path = osp.join(CONFIGS, name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'mmtada ships no config {name!r}; the shipped ones are under '
            f'{CONFIGS} (e.g. _base_/tada_cls.py, _base_/tada_det.py).')
    return path


def tool_path(name: str) -> str:
    """The absolute path of the shipped tool ``name`` (e.g. ``'train.py'``)."""
    return osp.join(TOOLS, name)
