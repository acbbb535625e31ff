"""The generation chain the hook and tools/generate.py share."""
import json
import os
import weakref

from mmtada.datasets import Digits, SampleReader
from mmtada.generators import (Upsample, make_variants, open_cache,
                               variant_pairs)
from mmtada.registry import GENERATORS


def test_makes_lists_and_records_then_reuses_and_keeps_the_record(tmp_path):
    reader = SampleReader(Digits(split='train', indices=20, pipeline=[]))
    record = str(tmp_path / 'tada' / 'generation.json')
    gen = dict(type='mmtada.Upsample', batch_size=4)
    made = make_variants(gen, reader, [7, 3], 2, 0, str(tmp_path / 'c'),
                         record=record)
    assert made.pairs == variant_pairs([3, 7], 2)
    assert made.counts['generated'] == 4 and made.counts['total'] == 4
    for s, v in made.pairs:
        assert (made.cache.read(s, v) == reader.source_image(s)).all()
    cost = json.load(open(record))
    assert cost['selected'] == 2 and cost['num_variants'] == 2
    assert cost['generated'] == 4 and cost['cache'] == made.cache.dir
    # a rerun (a resumed run) makes nothing and leaves the record as it is
    again = make_variants(gen, reader, [3, 7], 2, 0, str(tmp_path / 'c'),
                          record=record)
    assert again.counts['generated'] == 0 and again.counts['reused'] == 4
    assert json.load(open(record)) == cost
    # a resumed run that made some adds them (here: one file deleted)
    os.remove(made.cache.path(3, 1))
    third = make_variants(gen, reader, [3, 7], 2, 0, str(tmp_path / 'c'),
                          record=record)
    assert third.counts['generated'] == 1
    assert json.load(open(record))['generated'] == 5
    # tools open the same cache (same settings, same seed)
    assert open_cache(gen, reader, 0, str(tmp_path / 'c')).dir == \
        made.cache.dir


@GENERATORS.register_module(force=True)
class TrackedUpsample(Upsample):
    """Upsample that keeps a weak reference to each instance."""
    instances = []

    def __init__(self, **kw):
        super().__init__(**kw)
        TrackedUpsample.instances.append(weakref.ref(self))


def test_the_generator_is_released_before_returning(tmp_path):
    reader = SampleReader(Digits(split='train', indices=8, pipeline=[]))
    made = make_variants(dict(type='TrackedUpsample'), reader, [1], 1, 0,
                         str(tmp_path))
    assert made.counts['generated'] == 1
    assert [ref() for ref in TrackedUpsample.instances] == [None]
