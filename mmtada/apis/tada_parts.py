"""What a config's TADA run generates with and where it caches."""
import copy
import json
import os.path as osp
from typing import NamedTuple

from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmtada.generators import VariantCache, open_cache, variant_pairs
from mmtada.registry import HOOKS
from mmtada.utils import RunLayout
from .base_dataset import build_sample_reader
from .train import find_lag_hook


class TadaParts(NamedTuple):
    reader: object  # SampleReader of the base training set
    hook: object  # (Det)LearningLagHook, built, not attached
    cache_root: str  # the run's variant cache root


def build_tada_parts(cfg: Config, work_dir: str) -> TadaParts:
    """The base samples, the hook and the variant cache root a training
    run of ``cfg`` in ``work_dir`` uses (the hook's ``cache_dir`` or
    ``<work_dir>/tada/variants``), so tools read and write the run's own
    variants."""
    hook_cfg = find_lag_hook(cfg)
    if hook_cfg is None:
        raise ValueError('the config has no mmtada.LearningLagHook or '
                         'DetLearningLagHook in custom_hooks: nothing says '
                         'how variants are made.')
    reader = build_sample_reader(cfg)
    hook_cfg = copy.deepcopy(hook_cfg)
    hook_cfg.pop('mode', None)  # the run protocol, apis.train's
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        hook = HOOKS.build(hook_cfg)
    return TadaParts(reader, hook, hook.cache_root(work_dir))


def served_pairs(work_dir: str, selection, num_variants: int) -> list:
    """The (source, variant) variants a run serves, once each: what its
    hook wrote to ``tada/served.json`` (after the variant filter), else,
    for a run without that file, every variant of its selection."""
    path = RunLayout(work_dir).served
    if not osp.exists(path):
        return variant_pairs(selection.indices, num_variants)
    with open(path) as f:
        pairs = json.load(f)['pairs']
    return sorted({(int(s), int(v)) for s, v in pairs if v is not None})


def open_run_cache(parts: TadaParts) -> VariantCache:
    """The run's variant cache, keyed as the run keys it (the generator is
    built for its settings, then released)."""
    return open_cache(parts.hook.generator_cfg, parts.reader,
                      parts.hook.seed, parts.cache_root)
