"""What a config's TADA run generates with and where it caches."""
import copy
import os.path as osp
from typing import NamedTuple

from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmtada.generators import BaseGenerator, VariantCache
from mmtada.registry import GENERATORS, HOOKS
from .base_dataset import build_base_dataset
from .train import find_lag_hook


class TadaParts(NamedTuple):
    dataset: object  # TADADataset, no slots, no pipeline
    hook: object  # (Det)LearningLagHook, built, not attached
    generator: BaseGenerator
    cache: VariantCache


def build_tada_parts(cfg: Config, work_dir: str) -> TadaParts:
    """The base dataset, the hook, its generator (weights loaded) and the
    variant cache a training run of ``cfg`` in ``work_dir`` uses: the
    hook's ``cache_dir`` or ``<work_dir>/tada/variants``, keyed as the run
    keys it, so tools read and write the run's own variants."""
    hook_cfg = find_lag_hook(cfg)
    if hook_cfg is None:
        raise ValueError('the config has no mmtada.LearningLagHook or '
                         'DetLearningLagHook in custom_hooks: nothing says '
                         'how variants are made.')
    dataset = build_base_dataset(cfg)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        hook = HOOKS.build(copy.deepcopy(hook_cfg))
        generator = GENERATORS.build(copy.deepcopy(hook.generator_cfg))
    cache = VariantCache.for_run(
        hook.cache_dir or osp.join(work_dir, 'tada', 'variants'), dataset,
        generator, hook.seed)
    return TadaParts(dataset, hook, generator, cache)
