"""The generation chain, whole: build the generator, open the cache, make
what is missing (each rank its share: :mod:`.sharded_generation`), judge
and remake with the variant filter, list the served pairs, record the
cost."""
import copy
import json
import os.path as osp
import time
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine import dist
from mmengine.logging import print_log

from mmtada.registry import GENERATORS
from mmtada.utils.fileio import atomic_write_json
from mmtada.utils.shared_folder import check_shared_folder
from .sharded_generation import generate_shard, variant_pairs
from .sample_source import SampleSource
from .strength_ladder import StrengthLadder, try_id, walk_step
from .variant_cache import VariantCache
from .variant_codec import VariantCodec

FILTER_COUNTS = ('kept', 'remade', 'dropped', 'filter_seconds', 'strengths')


class VariantSet(NamedTuple):
    """What :func:`make_variants` leaves: the cache holding every variant,
    the (source, variant) pairs to serve (variant None: the source itself,
    where the filter dropped all its variants), this call's counts
    (``total``, ``generated``, ``reused``, ``seconds``; with a filter also
    ``kept``, ``remade``, ``dropped``, ``filter_seconds``; with a ladder
    ``strengths``, the served slots per strength) and the
    filter's verdicts (``{(source, variant): accepted variant or -1}``,
    None without a filter)."""
    cache: VariantCache
    pairs: List[Tuple[int, Optional[int]]]
    counts: dict
    verdicts: Optional[Dict[Tuple[int, int], int]]

    def served_record(self, samples=None) -> dict:
        """What ``tada/served.json`` holds: the served pairs and, with a
        strength ladder, the strength each was made at (None: the source)
        and, for a classification ``samples`` (a
        :class:`~mmtada.datasets.SampleReader`), the served slots per class
        and strength (``{class: {strength: n}}``)."""
        out = dict(pairs=self.pairs)
        if self.cache.ladder is None:
            return out
        out['strengths'] = [None if v is None else self.cache.strength_of(v)
                            for _, v in self.pairs]
        if samples is not None and not samples.is_detection:
            labels, names = samples.gt_labels(), samples.classes
            by_class = {}
            for s, v in self.pairs:
                by_class.setdefault(str(names[labels[s]]), []).append((s, v))
            out['strengths_per_class'] = {
                name: strength_counts(self.cache, pairs)
                for name, pairs in by_class.items()}
        return out


def open_cache(generator_cfg: dict, samples: SampleSource, seed: int,
               root: str, ladder: Optional[StrengthLadder] = None,
               codec: Optional[VariantCodec] = None,
               backend_args: Optional[dict] = None) -> VariantCache:
    """The cache a run with ``generator_cfg``, ``seed`` (its filter's
    ``ladder``, its ``codec`` and ``backend_args``) uses under ``root``,
    for tools that read a run's variants. Builds the generator (its
    settings key the cache) and releases it."""
    generator = GENERATORS.build(copy.deepcopy(generator_cfg))
    return VariantCache.for_run(root, samples, generator, seed, ladder,
                                codec, backend_args)


def served(pairs, accepted: Dict) -> List[Tuple[int, Optional[int]]]:
    """What each slot of ``pairs`` serves: its accepted variant; for a
    dropped one, another accepted variant of its source (in turn), else
    the source itself (None)."""
    by_source: Dict[int, List[int]] = {}
    for (s, _), v in accepted.items():
        by_source.setdefault(s, []).append(v)
    out, turn = [], {}
    for s, v in pairs:
        if (s, v) in accepted:
            out.append((s, accepted[(s, v)]))
            continue
        others = sorted(by_source.get(s, []))
        k = turn.get(s, 0)
        turn[s] = k + 1
        out.append((s, others[k % len(others)] if others else None))
    return out


def make_variants(generator_cfg: dict,
                  samples: SampleSource,
                  sources: Sequence[int],
                  num_variants: int,
                  seed: int,
                  cache_root: str,
                  record: Optional[str] = None,
                  shard: Optional[Tuple[int, int]] = None,
                  variant_filter=None,
                  verdicts: Optional[Dict] = None,
                  ladder: Optional[StrengthLadder] = None,
                  codec: Optional[VariantCodec] = None,
                  backend_args: Optional[dict] = None) -> VariantSet:
    """Make every missing variant of ``sources`` and say what to serve.

    The generator is built here and released before returning, so that
    diffusion weights hold no (GPU) memory through training. The work is
    split across the ranks of the process group, or between independent
    jobs with ``shard=(index, count)`` (see :func:`generate_shard`);
    every rank must call this with the same arguments, and afterwards
    every rank can read every variant. Before any work every rank checks
    that it sees the cache folder rank 0 sees
    (:func:`~mmtada.utils.shared_folder.check_shared_folder`). With ``record`` (a
    ``generation.json`` path) rank 0 merges this call's cost into it.

    With ``variant_filter`` (a bound
    :class:`~mmtada.filters.BaseVariantFilter`, e.g. ``LabelAgreement``)
    each rank judges its share of the
    new variants (collective: the verdicts are gathered, so every rank
    serves the same); variant ``v`` of a sample is tried as ``v``, then
    ``v + k``, ``v + 2k``, ... (k = ``num_variants``; each try its own seed
    and cache file) up to the filter's ``max_tries``, then dropped. With
    the filter's strength ladder (:class:`StrengthLadder`) each try is
    made at the step the walk reached, its id saying which, and the
    ladder keys the cache. ``verdicts`` (a resumed run's) are applied as
    they are: nothing is judged or remade again, only missing files are
    made (the filter, then unbound, gives only its ladder).

    Args:
        generator_cfg (dict): the generator's config (``type=...``).
        samples (SampleSource): the base samples.
        sources (Sequence[int]): base indices of the selected samples.
        num_variants (int): k variants per sample.
        seed (int): the generation seed.
        cache_root (str): the variant cache root, seen by every rank.
        record (str, optional): where to merge the cost. Defaults to None
            (not recorded).
        shard (tuple, optional): ``(index, count)``. Defaults to None (the
            ranks of the process group).
        variant_filter (optional): judges variants. Defaults to None (all
            kept).
        verdicts (dict, optional): a previous call's verdicts. Defaults to
            None.
        ladder (StrengthLadder, optional): without a filter, each variant
            is made at its first step (e.g. ``tools/generate.py`` ahead of
            a run that filters). Defaults to None: the filter's.
        codec (VariantCodec, optional): how variants are stored. Defaults
            to None (PNG).
        backend_args (dict, optional): mmengine file backend arguments for
            ``cache_root`` (e.g. an object store). Defaults to None: by its
            prefix.
    """
    k = int(num_variants)
    generator = GENERATORS.build(copy.deepcopy(generator_cfg))
    if ladder is None:
        ladder = getattr(variant_filter, 'ladder', None)
    if ladder is not None and not generator.varies_strength:
        raise ValueError(
            f'a strength ladder needs a generator with a strength '
            f'(PixelSDEdit, LatentSDEdit, BoxPreservingSDEdit), not '
            f'{type(generator).__name__}: remove the filter\'s strengths '
            'or change the generator.')
    cache = VariantCache.for_run(cache_root, samples, generator, seed,
                                 ladder, codec, backend_args)
    # Before any work: all ranks see it.
    check_shared_folder(cache.dir, backend_args=backend_args)
    pairs = variant_pairs(sources, k)
    counts = dict(total=len(pairs), generated=0, reused=0, seconds=0.0)

    def make(todo):
        got = generate_shard(generator, cache, samples, todo, seed,
                             shard=shard)
        for key in ('generated', 'reused', 'seconds'):
            counts[key] += got[key]

    if verdicts is not None:  # resumed: as judged before
        make([(s, v) for (s, _), v in verdicts.items() if v >= 0])
        accepted = {p: v for p, v in verdicts.items() if v >= 0}
    elif variant_filter is None:
        accepted = {p: try_id(ladder, p[1], k) for p in pairs}
        make([(s, accepted[(s, v)]) for s, v in pairs])
    else:
        accepted = _filtered(make, variant_filter, samples, cache, pairs, k,
                             counts)
        verdicts = {p: accepted.get(p, -1) for p in pairs}
    generator = None  # released: no weights held through training
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if verdicts is not None:
        first = {p: try_id(ladder, p[1], k) for p in pairs}
        counts.update(
            kept=sum(accepted.get(p) == first[p] for p in pairs),
            remade=sum(p in accepted and accepted[p] != first[p]
                       for p in pairs),
            dropped=sum(p not in accepted for p in pairs))
    serve = served(pairs, accepted)
    filtered = '' if verdicts is None else (
        f", filter: {counts['kept']} kept, {counts['remade']} remade, "
        f"{counts['dropped']} dropped")
    if ladder is not None:
        counts['strengths'] = strength_counts(cache, serve)
        filtered += ', served at strength ' + ', '.join(
            f'{s}: {n}' for s, n in counts['strengths'].items())
    print_log(
        f"TADA generation: {counts['total']} variants "
        f"({counts['generated']} made, {counts['reused']} reused) in "
        f"{counts['seconds']:.1f}s{filtered}, cache {cache.dir}",
        logger='current')
    if record is not None and dist.is_main_process():
        record_generation(record, cache, len(sources), k, counts)
    return VariantSet(cache, serve, counts, verdicts)


def strength_counts(cache: VariantCache, pairs) -> Dict[str, int]:
    """How many of ``pairs`` serve a variant made at each of the cache's
    ladder strengths (highest first; a slot serving its source counts
    under ``'source'``)."""
    out = {str(s): 0 for s in cache.ladder.strengths}
    for _, v in pairs:
        key = 'source' if v is None else str(cache.strength_of(v))
        out[key] = out.get(key, 0) + 1
    return out


def _filtered(make, variant_filter, samples, cache, pairs, k,
              counts) -> Dict[Tuple[int, int], int]:
    """Make, judge and remake until every pair is accepted or out of
    tries (walking the filter's ladder, if any: :func:`walk_step`);
    returns the accepted variant of each accepted pair."""
    rank, world = dist.get_rank(), dist.get_world_size()
    ladder, tries = variant_filter.ladder, variant_filter.max_tries
    accepted = {}
    walk = {p: (0, None) for p in pairs}  # pair: (level, reserve)
    counts['filter_seconds'] = 0.0
    for t in range(tries):
        if not walk:
            break
        pending = list(walk)
        made = [(s, try_id(ladder, v, k, walk[(s, v)][0], t))
                for s, v in pending]
        make(made)
        start = time.perf_counter()
        mine = list(range(rank, len(made), world))
        got = variant_filter.assess(samples, cache, [made[i] for i in mine])
        gathered = dist.all_gather_object(dict(zip(mine, got)))
        verdict = {i: v for part in gathered for i, v in part.items()}
        took = dist.all_gather_object(time.perf_counter() - start)
        counts['filter_seconds'] += max(took)
        counts['seconds'] += max(took)
        for i, pair in enumerate(pending):
            kept, novelty = verdict[i]
            level, reserve = walk[pair]
            done, serve, level, reserve = walk_step(
                ladder, level, kept, novelty, reserve, made[i][1],
                t == tries - 1)
            if not done:
                walk[pair] = (level, reserve)
                continue
            del walk[pair]
            if serve is not None:
                accepted[pair] = serve
    return accepted


def record_generation(path: str, cache: VariantCache, selected: int,
                      num_variants: int, counts: dict) -> None:
    """Merge one generation's cost into ``path`` (``generation.json``):
    the counts of a run, summed over the calls of one work dir that used
    the same cache (a resumed run adds what it made; a call that made
    nothing leaves the record as it stands); the filter's counts are the
    latest call's."""
    record = dict(cache=cache.dir, settings=cache.settings,
                  selected=int(selected), num_variants=int(num_variants),
                  total=counts['total'], generated=0, seconds=0.0)
    record.update({key: counts[key] for key in FILTER_COUNTS
                   if key in counts})
    if osp.exists(path):
        with open(path) as f:
            old = json.load(f)
        if old.get('cache') == cache.dir:
            if not counts['generated']:
                return
            record.update(generated=old['generated'], seconds=old['seconds'])
    record['generated'] += counts['generated']
    record['seconds'] += counts['seconds']
    atomic_write_json(path, record, indent=1)
