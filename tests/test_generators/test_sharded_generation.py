import numpy as np

from mmtada.datasets import Digits, SampleReader
from mmtada.generators import (SampleSource, Upsample, VariantCache,
                               generate_shard, variant_pairs, variant_seed)


def digits(n=40):
    """The base samples generation reads: a SampleReader."""
    reader = SampleReader(Digits(split='train', indices=n, pipeline=[]))
    assert isinstance(reader, SampleSource)
    return reader


class Counting(Upsample):
    """Upsample that records what it was asked for."""

    def __init__(self):
        super().__init__(batch_size=3)
        self.calls = []

    def generate(self, images, annotations, seeds):
        self.calls.append((len(images), list(seeds),
                           [a['gt_label'] for a in annotations]))
        return super().generate(images, annotations, seeds)


def test_generates_each_missing_variant_once_then_reuses(tmp_path):
    ds = digits()
    cache = VariantCache(str(tmp_path), ds.fingerprint(), dict(type='U'))
    gen = Counting()
    out = generate_shard(gen, cache, ds, variant_pairs([5, 2], 2), seed=0)
    assert out['total'] == 4 and out['generated'] == 4 and out['reused'] == 0
    assert [c[0] for c in gen.calls] == [3, 1]  # batched by batch_size
    labels = ds.gt_labels()
    assert gen.calls[0][2] == [labels[2], labels[2], labels[5]]
    for s, v in variant_pairs([2, 5], 2):
        np.testing.assert_array_equal(cache.read(s, v), ds.source_image(s))
    again = generate_shard(gen, cache, ds, variant_pairs([5, 2], 2), seed=0)
    assert again['generated'] == 0 and again['reused'] == 4
    assert len(gen.calls) == 2


def test_variant_seed_depends_only_on_its_triple():
    assert variant_seed(0, 1, 2) == variant_seed(0, 1, 2)
    seeds = {variant_seed(s, i, v) for s in range(2) for i in range(50)
             for v in range(3)}
    assert len(seeds) == 300
    assert all(0 <= x < 2**31 for x in seeds)


class Interrupted(Exception):
    pass


class DiesAfter(Upsample):
    """Stops the job (as a kill would) after ``n`` batches."""

    def __init__(self, n):
        super().__init__(batch_size=2)
        self.n = n

    def generate(self, images, annotations, seeds):
        if self.n == 0:
            raise Interrupted
        self.n -= 1
        return super().generate(images, annotations, seeds)


def cache_files(cache):
    import os
    return sorted(f for _, _, fs in os.walk(cache.dir) for f in fs
                  if not f.endswith('.jsonl'))


def manifest_lines(cache):
    import glob
    import os
    return [line for path in glob.glob(os.path.join(cache.dir, 'manifest',
                                                    '*.jsonl'))
            for line in open(path).read().splitlines()]


def test_interrupted_generation_resumes_without_duplicates(tmp_path):
    ds = digits()
    cache = VariantCache(str(tmp_path), ds.fingerprint(), dict(type='U'))
    sources = [1, 4, 9, 16, 25]
    try:
        generate_shard(DiesAfter(2), cache, ds, variant_pairs(sources, 2),
                       seed=0)
    except Interrupted:
        pass
    assert len(cache_files(cache)) == 1 + 4  # settings.json + 2 batches
    out = generate_shard(Upsample(), cache, ds,
                         variant_pairs(sources, 2), seed=0)
    assert out['generated'] == 6 and out['reused'] == 4
    files = cache_files(cache)
    assert len(files) == 1 + 10
    assert not any(f.startswith('.tmp') for f in files)
    assert len(manifest_lines(cache)) == 10  # each variant listed once
    assert cache.verify(variant_pairs(sources, 2)) == []


def test_shards_split_the_work_without_overlap(tmp_path):
    ds = digits()
    sources = list(range(0, 30, 3))
    made = []
    for shard in range(3):
        cache = VariantCache(str(tmp_path / f's{shard}'), ds.fingerprint(),
                             dict(type='U'))
        out = generate_shard(Upsample(), cache, ds,
                             variant_pairs(sources, 2), seed=0,
                             shard=(shard, 3))
        made.append({f for f in cache_files(cache) if f.endswith('.png')})
        assert out['total'] == 20
    assert sum(len(m) for m in made) == 20
    assert set.union(*made) == {f'{s}_{v}.png' for s in sources
                                for v in range(2)}
