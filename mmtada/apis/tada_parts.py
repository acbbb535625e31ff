"""A config's TADA run as the tools open it: what it generates with,
where it caches, what it selected and which variants it serves."""
import copy
import json
import os.path as osp
from typing import List, NamedTuple, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmtada.generators import (StrengthLadder, VariantCache, open_cache,
                               try_id, variant_pairs)
from mmtada.registry import HOOKS, VARIANT_FILTERS
from mmtada.selection import Selection
from mmtada.utils import RunLayout
from .config_helpers import build_sample_reader
from .train import find_lag_hook, run_config


class TadaParts(NamedTuple):
    reader: object  # SampleReader of the base training set
    hook: object  # (Det)LearningLagHook, built, not attached
    cache_root: str  # the run's variant cache root


def build_tada_parts(cfg: Config, work_dir: str) -> TadaParts:
    """The base samples, the hook and the variant cache root a training
    run of ``cfg`` in ``work_dir`` uses (the hook's ``cache_dir`` or
    ``<work_dir>/tada/variants``), so tools read and write the run's own
    variants."""
    hook_cfg = find_lag_hook(run_config(cfg))  # as one run builds it
    if hook_cfg is None:
        raise ValueError('the config has no mmtada.LearningLagHook or '
                         'DetLearningLagHook in custom_hooks: nothing says '
                         'how variants are made.')
    reader = build_sample_reader(cfg)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        hook = HOOKS.build(hook_cfg)
    return TadaParts(reader, hook, hook.cache_root(work_dir))


def served_pairs(work_dir: str, selection, num_variants: int,
                 ladder: Optional[StrengthLadder] = None) -> list:
    """The (source, variant) variants a run serves, once each: what its
    hook wrote to ``tada/served.json`` (after the variant filter), else,
    for a run without that file, every first try of its selection."""
    path = RunLayout(work_dir).served
    if not osp.exists(path):
        return [(s, try_id(ladder, v, num_variants))
                for s, v in variant_pairs(selection.indices, num_variants)]
    with open(path) as f:
        pairs = json.load(f)['pairs']
    return sorted({(int(s), int(v)) for s, v in pairs if v is not None})


class TadaRun(NamedTuple):
    """What :func:`open_run` opens."""
    reader: object  # SampleReader of the base training set
    hook: object  # (Det)LearningLagHook, built, not attached
    cache_root: str  # the run's variant cache root
    layout: RunLayout  # the run's files
    selection: Selection
    selection_path: str  # where ``selection`` was read
    cache: Optional[VariantCache]  # the run's variants (None: not opened)
    pairs: Optional[List[Tuple[int, int]]]  # what it serves (None: idem)
    ladder: Optional[StrengthLadder]  # its filter's, keying the cache


def open_run(cfg: Config, work_dir: str, selection: Optional[str] = None,
             variants: bool = True) -> TadaRun:
    """A training run of ``cfg`` in ``work_dir`` as the tools read it: its
    parts (:func:`build_tada_parts`), its selection (``selection``, a
    selection.json path; default: the run's own), checked against the
    config's dataset, and with ``variants`` its variant cache, keyed as
    the run keys it (the generator is built for its settings, then
    released), and the variants it serves (:func:`served_pairs`).
    ``variants=False`` is for a run that has not made them yet (e.g.
    ``tools/generate.py``, which makes them into ``cache_root``)."""
    layout = RunLayout(work_dir)
    reader, hook, cache_root = build_tada_parts(cfg, work_dir)
    path = selection or layout.selection
    selected = Selection.load(path, hook.backend_args)
    selected.check_dataset(reader.fingerprint(), len(reader), path)
    cache = pairs = None
    ladder = run_ladder(hook)
    if variants:
        cache = open_cache(hook.generator_cfg, reader, hook.seed, cache_root,
                           ladder, hook.codec(reader), hook.backend_args)
        pairs = served_pairs(work_dir, selected, hook.num_variants, ladder)
    return TadaRun(reader, hook, cache_root, layout, selected, path, cache,
                   pairs, ladder)


def run_ladder(hook) -> Optional[StrengthLadder]:
    """The strength ladder of the hook's variant filter (None: none)."""
    cfg = hook.variant_filter_cfg
    if cfg is None:
        return None
    return VARIANT_FILTERS.build(copy.deepcopy(cfg)).ladder
