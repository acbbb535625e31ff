"""open_run: a run's reader, hook, selection, cache and served variants,
as the tools open them, on a tiny run dir (no training)."""
import pytest

from mmtada.apis import build_sample_reader, open_run
from mmtada.generators import make_variants, variant_pairs
from mmtada.selection import Selection
from mmtada.utils import RunLayout, atomic_write_json


def write_selection(path, indices, dataset, num_samples=20):
    Selection(rule='test', epoch=1, indices=indices, num_samples=num_samples,
              per_class_counts={}, per_class_totals={},
              scores=[0.0] * num_samples, dataset=dataset).dump(path)


def test_open_run_reads_the_selection_cache_and_served_pairs(
        cls_cfg, tmp_path):
    cfg = cls_cfg(num_samples=20)
    work = str(tmp_path / 'work')
    layout = RunLayout(work)
    with pytest.raises(FileNotFoundError, match='no selection file at'):
        open_run(cfg, work)
    fingerprint = build_sample_reader(cfg).fingerprint()
    write_selection(layout.selection, [3, 9], fingerprint)

    # before generation: no cache opened, nothing served yet
    run = open_run(cfg, work, variants=False)
    assert run.cache is None and run.pairs is None
    assert run.selection.indices == [3, 9]
    assert run.selection_path == layout.selection
    assert run.layout.work_dir == work
    assert run.cache_root == layout.variants and len(run.reader) == 20
    made = make_variants(run.hook.generator_cfg, run.reader, [3, 9],
                         run.hook.num_variants, run.hook.seed,
                         run.cache_root)

    # the cache the run keys; without served.json every variant is served
    run = open_run(cfg, work)
    assert run.cache.dir == made.cache.dir
    assert run.pairs == variant_pairs([3, 9], 2)
    assert all(run.cache.has(*p) for p in run.pairs)
    # what the hook wrote after its filter, once each, sources left out
    atomic_write_json(layout.served, dict(
        pairs=[(9, 1), (3, None), (9, 1), (3, None)]))
    assert open_run(cfg, work).pairs == [(9, 1)]


def test_open_run_takes_a_selection_and_refuses_another_datasets(
        cls_cfg, tmp_path):
    cfg = cls_cfg(num_samples=20)
    other = str(tmp_path / 'other.json')
    write_selection(other, [5], build_sample_reader(cfg).fingerprint())
    run = open_run(cfg, str(tmp_path / 'w'), other, variants=False)
    assert run.selection.indices == [5] and run.selection_path == other
    write_selection(other, [5], 'f' * 40)
    with pytest.raises(ValueError, match='made on another dataset'):
        open_run(cfg, str(tmp_path / 'w'), other, variants=False)
    cfg.custom_hooks = []
    with pytest.raises(ValueError, match='no mmtada.LearningLagHook'):
        open_run(cfg, str(tmp_path / 'w'), other, variants=False)
