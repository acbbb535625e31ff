"""TADA against its controls: the arms of an ablation and their table."""
import copy
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from .config_helpers import tada_wrapper_parent
from .train import find_lag_hook, tada_mode, without_tada

ARMS = ('baseline', 'baseline_steps', 'useful', 'useful_k2', 'tada',
        'tada_k2', 'tada_nofilter', 'tada_ladder', 'random', 'all')
LADDER = (0.5, 0.35, 0.2)  # the tada_ladder arm's default
ARM_TEXT = dict(
    baseline='the real data alone',
    baseline_steps='the real data alone, for as many steps as TADA',
    useful='selected samples upsampled (exact copies, USEFUL), k copies',
    useful_k2='USEFUL with k = 2 (where USEFUL peaks)',
    tada='diffusion variants of the selected samples (TADA)',
    tada_k2='TADA with k = 2',
    tada_nofilter='TADA without the variant filter',
    tada_ladder='TADA, its filter walking a strength ladder',
    random='diffusion variants of a random subset of TADA\'s size',
    all='diffusion variants of every sample')
NEEDS_TADA = ('baseline_steps', 'random')  # they take TADA's selection size


def arm_config(cfg: Config, arm: str, seed: int, cache_dir: str,
               tada_size: Optional[int] = None,
               ladder: Sequence[float] = LADDER) -> Config:
    """``cfg`` for one run of ``arm`` with ``randomness.seed = seed``.

    Every arm keeps the schedule, the data and the model; validation runs
    once, at the end. The diffusion arms share ``cache_dir`` (variants
    depend on the hook's generation seed, not the training seed, so a
    variant is made once for the whole ablation), the copies another.
    ``baseline_steps`` and ``random`` need ``tada_size``, the size of
    TADA's selection with the same seed: ``random`` selects as many at
    random; ``baseline_steps`` keeps TADA's wrapper, its slots filled with
    uniform draws of the real data (in restart mode as many as TADA serves,
    ``tada_size`` x k; in run, the config's). Copies never go through the
    variant filter (they keep their label). ``tada_ladder`` is ``tada``
    with its filter (the config's, else a default ``LabelAgreement``)
    walking ``ladder``.
    """
    if arm not in ARMS:
        raise ValueError(f'unknown arm {arm!r}: choose from {ARMS}.')
    if arm in NEEDS_TADA and tada_size is None:
        raise ValueError(f'the {arm} arm needs the size of TADA\'s '
                         'selection (run the tada arm first).')
    cfg = copy.deepcopy(cfg)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=int(seed))
    cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs
    if arm == 'baseline':
        return without_tada(cfg)
    hook = find_lag_hook(cfg)
    if hook is None:
        raise ValueError('the config has no LearningLagHook: an ablation '
                         'compares TADA with its controls; add TADA first.')
    k = int(hook.get('num_variants', 5))
    if arm == 'baseline_steps':
        wrapper = tada_wrapper_parent(cfg).dataset
        if tada_mode(cfg) == 'restart' and \
                wrapper.get('num_slots') is None:
            wrapper.num_slots = tada_size * k
        cfg.custom_hooks = [h for h in cfg.custom_hooks if h is not hook]
        return cfg
    if arm.endswith('_k2'):
        hook.num_variants = 2
    if arm.startswith('useful'):
        hook.generator = dict(type='mmtada.Upsample')
        hook.cache_dir = osp.join(cache_dir, 'copies')
        hook.variant_filter = None
        return cfg
    hook.cache_dir = osp.join(cache_dir, 'diffusion')
    if arm == 'tada_nofilter':
        hook.variant_filter = None
    elif arm == 'tada_ladder':
        hook.variant_filter = dict(
            hook.get('variant_filter') or dict(type='mmtada.LabelAgreement'),
            strengths=tuple(float(v) for v in ladder))
        hook.variant_filter.pop('max_tries', None)  # the ladder's length
    elif arm == 'all':
        hook.rule = dict(type='all')
        wrapper = tada_wrapper_parent(cfg).dataset
        wrapper.num_slots = None
        wrapper.slot_ratio = float(k)  # in run; restart sizes it exactly
    elif arm == 'random':
        hook.rule = dict(type='random', num=int(tada_size), seed=int(seed))
    return cfg


def summarize(results: List[dict]) -> List[dict]:
    """Per arm: runs, how many diverged (their metric is left out of the
    mean and std), metric mean and std, variants per run, generation
    seconds per run (the diffusion arms share one cache, so a variant is
    timed where it was made; per-run cost = variants x the ablation's
    seconds per image of that generator) and training wall seconds."""
    rate: Dict[str, List[float]] = {}
    for r in results:
        gen = r.get('generation') or {}
        if gen.get('generated'):
            key = json.dumps(gen['settings'], sort_keys=True, default=str)
            made, secs = rate.get(key, (0, 0.0))
            rate[key] = (made + gen['generated'], secs + gen['seconds'])
    rows = []
    for arm in ARMS:
        runs = [r for r in results if r['arm'] == arm]
        if not runs:
            continue
        diverged = [r for r in runs if r.get('diverged')]
        values = [r['metric'] for r in runs
                  if r['metric'] is not None and not r.get('diverged')]
        mean = sum(values) / len(values) if values else float('nan')
        std = math.sqrt(sum((v - mean)**2 for v in values) /
                        (len(values) - 1)) if len(values) > 1 else 0.0
        variants, gen_s = [], []
        for r in runs:
            gen = r.get('generation') or {}
            variants.append(gen.get('total', 0))
            key = json.dumps(gen.get('settings'), sort_keys=True,
                             default=str)
            made, secs = rate.get(key, (0, 0.0))
            gen_s.append(gen.get('total', 0) * secs / made if made else 0.0)
        rows.append(dict(
            arm=arm, runs=len(runs), diverged=len(diverged), mean=mean,
            std=std, values=[r['metric'] for r in runs],
            variants=sum(variants) / len(runs),
            generation_s=sum(gen_s) / len(runs),
            train_s=sum(r['seconds'] for r in runs) / len(runs)))
    return rows


def table_markdown(rows: List[dict], metric: str) -> str:
    """The rows as a markdown table; a metric on a 0-1 scale (COCO mAP)
    with three decimals, a percentage with two."""
    means = [abs(r['mean']) for r in rows if not math.isnan(r['mean'])]
    digits = 3 if means and max(means) <= 1 else 2
    lines = [f'| arm | what | runs | {metric} (mean ± std) | variants per '
             'run | generation s per run | training s per run |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        runs = f"{r['runs']} ({r['diverged']} diverged)" if r['diverged'] \
            else str(r['runs'])
        each = ' / '.join('–' if v is None else f'{v:.{digits}f}'
                          for v in r.get('values', []))
        lines.append(
            f"| {r['arm']} | {ARM_TEXT[r['arm']]} | {runs} | "
            f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}"
            f"{f' ({each})' if len(r.get('values', [])) > 1 else ''} | "
            f"{r['variants']:.0f} | "
            f"{r['generation_s']:.0f} | {r['train_s']:.0f} |")
    return '\n'.join(lines) + '\n'


def table_csv(rows: List[dict]) -> str:
    keys = ['arm', 'runs', 'diverged', 'mean', 'std', 'variants',
            'generation_s', 'train_s']
    return '\n'.join([','.join(keys)] + [
        ','.join(f'{r[k]:.4f}' if isinstance(r[k], float) else str(r[k])
                 for k in keys) for r in rows]) + '\n'
