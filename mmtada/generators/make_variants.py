"""The generation chain: build the generator, open the cache, make what is
missing, list the served pairs, record the cost."""
import copy
import json
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine import dist
from mmengine.logging import print_log

from mmtada.registry import GENERATORS
from mmtada.utils.fileio import atomic_write_json
from .generate_variants import generate_variants, variant_pairs
from .sample_source import SampleSource
from .variant_cache import VariantCache


class VariantSet(NamedTuple):
    """What :func:`make_variants` leaves: the cache holding every variant,
    the (source, variant) pairs to serve, and this call's counts (``total``,
    ``generated``, ``reused``, ``seconds``)."""
    cache: VariantCache
    pairs: List[Tuple[int, int]]
    counts: dict


def open_cache(generator_cfg: dict, samples: SampleSource, seed: int,
               root: str) -> VariantCache:
    """The cache a run with ``generator_cfg`` and ``seed`` uses under
    ``root``, for tools that read a run's variants. Builds the generator
    (its settings key the cache) and releases it."""
    generator = GENERATORS.build(copy.deepcopy(generator_cfg))
    return VariantCache.for_run(root, samples, generator, seed)


def make_variants(generator_cfg: dict,
                  samples: SampleSource,
                  sources: Sequence[int],
                  num_variants: int,
                  seed: int,
                  cache_root: str,
                  record: Optional[str] = None,
                  shard: Optional[Tuple[int, int]] = None) -> VariantSet:
    """Make every missing variant of ``sources`` and say what to serve.

    The generator is built here and released before returning, so that
    diffusion weights hold no (GPU) memory through training. The work is
    split across the ranks of the process group, or between independent
    jobs with ``shard=(index, count)`` (see :func:`generate_variants`);
    every rank must call this with the same arguments, and afterwards
    every rank can read every variant. With ``record`` (a
    ``generation.json`` path) rank 0 merges this call's cost into it.

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
    """
    generator = GENERATORS.build(copy.deepcopy(generator_cfg))
    cache = VariantCache.for_run(cache_root, samples, generator, seed)
    counts = generate_variants(generator, cache, samples, sources,
                               num_variants, seed, shard=shard)
    del generator
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print_log(
        f"TADA generation: {counts['total']} variants "
        f"({counts['generated']} made, {counts['reused']} reused) in "
        f"{counts['seconds']:.1f}s, cache {cache.dir}", logger='current')
    if record is not None and dist.is_main_process():
        record_generation(record, cache, len(sources), num_variants, counts)
    return VariantSet(cache, variant_pairs(sources, num_variants), counts)


def record_generation(path: str, cache: VariantCache, selected: int,
                      num_variants: int, counts: dict) -> None:
    """Merge one generation's cost into ``path`` (``generation.json``):
    the counts of a run, summed over the calls of one work dir that used
    the same cache (a resumed run adds what it made; a call that made
    nothing leaves the record as it stands)."""
    record = dict(cache=cache.dir, settings=cache.settings,
                  selected=int(selected), num_variants=int(num_variants),
                  total=counts['total'], generated=0, seconds=0.0)
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
