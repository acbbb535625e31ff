"""mmtada's registries.

Children of mmengine's roots with ``locations``, so ``type='mmtada.X'``
resolves from a config whose ``default_scope`` is ``mmpretrain`` or
``mmdet`` (the scope prefix imports ``mmtada.registry``, which imports the
locations on first use); ``custom_imports=dict(imports=['mmtada'])`` works
as well. Never put ``_scope_='mmtada'`` on a wrapper: it would re-scope the
build of the wrapped dataset.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import DefaultScope, Registry, build_from_cfg


def build_in_own_scope(cfg, registry, default_args=None):
    """Build from a root registry of mmtada's own while a config's
    default scope (mmpretrain, mmdet) is active, without a scope search."""
    with DefaultScope.overwrite_default_scope(registry.scope):
        return build_from_cfg(cfg, registry, default_args)


HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmtada',
    locations=['mmtada.engine.hooks'])
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='mmtada',
    locations=['mmtada.datasets'])
# Own roots: mmengine has no counterpart for these.
GENERATORS = Registry(
    'tada generator', scope='mmtada', build_func=build_in_own_scope,
    locations=['mmtada.generators'])
SELECTION_RULES = Registry(
    'tada selection rule', scope='mmtada', build_func=build_in_own_scope,
    locations=['mmtada.selection'])
VARIANT_FILTERS = Registry(
    'tada variant filter', scope='mmtada', build_func=build_in_own_scope,
    locations=['mmtada.filters'])
