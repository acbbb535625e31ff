"""One rank's (or job's) share of the variants to make: every missing
variant of a list of (source, variant) pairs, split across the ranks of
the process group or between independent jobs, made once into the cache.
The seeds and the pair list are defined here so every share agrees."""
import hashlib
import time
from typing import List, Optional, Sequence, Tuple

from mmengine import dist
from mmengine.logging import print_log


def variant_seed(seed: int, source_idx: int, variant_idx: int) -> int:
    """The seed of one variant: a function of (seed, source, variant) only,
    so it does not depend on batching, ranks or order."""
    blob = f'{int(seed)}/{int(source_idx)}/{int(variant_idx)}'.encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], 'little') >> 1


def variant_pairs(sources: Sequence[int],
                  num_variants: int) -> List[Tuple[int, int]]:
    return [(int(s), v) for s in sorted(sources) for v in range(num_variants)]


def with_strength(annotation: dict, strength: Optional[float]) -> dict:
    """The annotation a generator gets for a variant made at a ladder's
    ``strength`` (None: as it is; see :class:`BaseGenerator`)."""
    return annotation if strength is None \
        else dict(annotation, strength=strength)


def generate_shard(generator, cache, samples,
                   pairs: Sequence[Tuple[int, int]], seed: int,
                   shard: Optional[Tuple[int, int]] = None) -> dict:
    """Make this rank's share of the missing variants of ``pairs`` and
    return counts over all shares.

    Rank r makes pairs ``r, r + W, r + 2W, ...`` of the (source, variant)
    list (:func:`variant_pairs` sorts it), so across ranks each variant is
    made exactly once. Pairs cached whole (by an earlier or interrupted
    run, or a run sharing the cache, even while this one runs) are skipped;
    missing, corrupt or truncated ones (checked against the cache
    manifest) are made again; a variant of a ladder's cache is made at the
    strength its id says. Ends with a barrier: afterwards every rank can
    read every variant, provided ``cache`` lies on a file system all ranks
    see (for multi-node runs: a shared one).

    Args:
        generator: a :class:`BaseGenerator`.
        cache: a :class:`VariantCache`.
        samples: a :class:`SampleSource` (the base samples).
        pairs: (base index, variant index) of the variants to have.
        seed: the run's generation seed.
        shard: ``(index, count)`` to split the work between independent
            jobs instead of between the ranks of this process group.

    Returns:
        dict with ``total`` pairs, ``generated`` and ``reused`` on this rank
        (summed over ranks) and ``seconds`` (the slowest rank).
    """
    rank, world = shard or (dist.get_rank(), dist.get_world_size())
    pairs = [(int(s), int(v)) for s, v in pairs]
    mine = pairs[rank::world]
    todo = cache.verify(mine)
    done = len(mine) - len(todo)  # cached whole already
    start = time.perf_counter()
    bs = max(1, int(generator.batch_size))
    last_log = start
    made = 0
    while todo:
        # Skip what a run sharing the cache made meanwhile.
        chunk, todo = todo[:bs], todo[bs:]
        done += len(chunk)
        batch = [p for p in chunk if not cache.has(*p)]
        if batch:
            images = [samples.source_image(s) for s, _ in batch]
            annotations = [with_strength(samples.source_annotation(s),
                                         cache.strength_of(v))
                           for s, v in batch]
            seeds = [variant_seed(seed, s, v) for s, v in batch]
            for (s, v), img in zip(
                    batch, generator.generate(images, annotations, seeds)):
                cache.write(s, v, img, samples.source_format(s))
            cache.flush()  # listed for every process, batch by batch
            made += len(batch)
        now = time.perf_counter()
        if now - last_log > 10 or not todo:
            last_log = now
            print_log(
                f'TADA generation: {made} made, {done - made} reused of '
                f'{len(mine)} on rank {rank} '
                f'({made / max(now - start, 1e-9):.1f} img/s)',
                logger='current')
    seconds = time.perf_counter() - start
    # The only collectives, once per rank: uneven work cannot hang.
    counts = [made, len(mine) - made, seconds]
    gathered = dist.all_gather_object(counts)
    dist.barrier()
    cache.refresh()  # what the other ranks listed
    return dict(
        total=len(pairs),
        generated=sum(c[0] for c in gathered),
        reused=sum(c[1] for c in gathered),
        seconds=max(c[2] for c in gathered))
