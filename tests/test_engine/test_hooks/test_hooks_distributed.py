"""The hooks under ``torchrun --nproc_per_node=2`` (gloo, CPU), against the
same run in one process: same selection, each variant made once, every
rank serving the same data, no hang on uneven work."""
import glob
import json
import os
import os.path as osp

import numpy as np
import pytest
from conftest import train_cli

from mmtada.generators import variant_pairs
from mmtada.utils import RunLayout

pytestmark = pytest.mark.slow


def selection(work):
    return json.load(open(osp.join(work, 'tada', 'selection.json')))


def state_digest(work):
    """(digest, ranks) of the data the run served, as its hook wrote them
    to ``tada/dataset_state.json``."""
    with open(RunLayout(work).dataset_state) as f:
        state = json.load(f)
    return state['digest'], state['ranks']


def manifests(cache_root):
    """{writing process: [(s, v), ...]} of every cache folder in the root
    (a process's manifest pieces are ``<host>-<pid>-<token>-<n>.jsonl``)."""
    out = {}
    for path in sorted(glob.glob(osp.join(cache_root, '*', 'manifest',
                                          '*.jsonl'))):
        out.setdefault(path.rsplit('-', 1)[0], []).extend(
            (r['s'], r['v'])
            for r in map(json.loads, open(path).read().splitlines()))
    return out


def pixel_generator(weights, **kw):
    return dict(type='mmtada.PixelSDEdit', weights=weights,
                num_inference_steps=5, batch_size=7, **kw)


def test_classification_two_processes_match_one(tmp_path, cls_cfg,
                                                pixel_weights):
    # GroupNorm and a pipeline without random transforms: one process at
    # batch 32 and two at 16 take the same steps, up to float sums.
    cfg = cls_cfg(num_samples=96, num_slots=32, max_epochs=3,
                  select_epoch=2, rule='kmeans', num_variants=3,
                  generator=pixel_generator(pixel_weights, strength=0.6))
    cfg.model.backbone.norm_cfg = dict(type='GN', num_groups=4)
    cfg.log_level = 'INFO'
    one_cache = str(tmp_path / 'one_cache')
    cfg.custom_hooks[0].cache_dir = one_cache
    cfg.train_dataloader.batch_size = 32
    train_cli(cfg, tmp_path / 'one')
    cfg.custom_hooks[0].cache_dir = None
    cfg.train_dataloader.batch_size = 16
    train_cli(cfg, tmp_path / 'two', nproc=2)

    one, two = selection(tmp_path / 'one'), selection(tmp_path / 'two')
    assert one['indices'] == two['indices'] and len(one['indices']) > 0
    np.testing.assert_allclose(one['scores'], two['scores'], atol=1e-4)
    pairs = variant_pairs(one['indices'], 3)
    # each variant made exactly once, split between the two ranks
    made = manifests(tmp_path / 'two' / 'tada' / 'variants')
    assert sorted(map(len, made.values())) == [len(pairs) // 2,
                                               (len(pairs) + 1) // 2]
    listed = [p for lines in made.values() for p in lines]
    assert sorted(listed) == sorted(pairs)
    # every rank serves the same data, and it is the one-process data
    assert state_digest(tmp_path / 'two') == (
        state_digest(tmp_path / 'one')[0], 2)

    # Uneven work: delete rank 0's share of a finished cache; rank 0
    # makes it again while rank 1 has nothing to do. Nobody hangs, and
    # the variants come back identical.
    for s, v in pairs[0::2]:
        os.remove(glob.glob(osp.join(one_cache, '*', '*',
                                     f'{s}_{v}.png'))[0])
    before = set(manifests(one_cache))
    cfg.custom_hooks[0].cache_dir = one_cache
    train_cli(cfg, tmp_path / 'uneven', nproc=2, timeout=300)
    new = {p: lines for p, lines in manifests(one_cache).items()
           if p not in before}
    assert [sorted(lines) for lines in new.values()] == [sorted(pairs[0::2])]
    gen = json.load(open(tmp_path / 'uneven' / 'tada' / 'generation.json'))
    assert gen['generated'] == len(pairs[0::2])
    assert state_digest(tmp_path / 'uneven') == state_digest(
        tmp_path / 'two')


def test_detection_two_processes_match_one(tmp_path, det_cfg,
                                           pixel_weights):
    # A detector trained briefly in one process; then, with it fixed
    # (lr 0), the per-instance probe and selection in one process and in
    # two, over an odd number of images (rank 1 gets a padded batch).
    pre = det_cfg(detector='retinanet', max_epochs=3, work_dir=tmp_path)
    pre.train_dataloader.dataset.dataset.indices = 47
    train_cli(pre, tmp_path / 'pre', '--baseline')
    cfg = det_cfg(detector='retinanet', max_epochs=2, select_epoch=1,
                  rule='kmeans', score_thr=0.02, num_variants=2,
                  generator=dict(type='mmtada.BoxPreservingSDEdit',
                                 generator=pixel_generator(pixel_weights)),
                  work_dir=tmp_path)
    cfg.train_dataloader.dataset.dataset.indices = 47
    cfg.model.test_cfg.score_thr = 0.0
    cfg.load_from = str(tmp_path / 'pre' / 'epoch_3.pth')
    cfg.optim_wrapper.optimizer.lr = 0.0
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    cfg.log_level = 'INFO'
    train_cli(cfg, tmp_path / 'one')
    cfg.train_dataloader.batch_size = 2
    train_cli(cfg, tmp_path / 'two', nproc=2)

    one, two = selection(tmp_path / 'one'), selection(tmp_path / 'two')
    assert 0 < len(one['indices']) < 47
    assert one['indices'] == two['indices']
    assert one['instances']['selected'] == two['instances']['selected']
    np.testing.assert_allclose(one['instances']['score'],
                               two['instances']['score'], atol=1e-5)
    pairs = variant_pairs(one['indices'], 2)
    made = manifests(tmp_path / 'two' / 'tada' / 'variants')
    assert sorted(p for lines in made.values() for p in lines) == pairs
    assert len(made) == 2
    assert state_digest(tmp_path / 'two') == (
        state_digest(tmp_path / 'one')[0], 2)


def test_the_variant_filter_gives_two_ranks_what_it_gives_one(
        tmp_path, cls_cfg, pixel_weights):
    """Each rank judges its share; the gathered verdicts, so the served
    data and the steps of the strength ladder each variant reached, equal
    one process's."""
    cfg = cls_cfg(num_samples=64, num_slots=32, max_epochs=2,
                  select_epoch=1, rule='loss_quantile', num_variants=2,
                  generator=pixel_generator(pixel_weights, strength=0.9),
                  variant_filter=dict(type='mmtada.LabelAgreement',
                                      min_ratio=1.0, strengths=(0.9, 0.5)))
    cfg.model.backbone.norm_cfg = dict(type='GN', num_groups=4)
    cfg.train_dataloader.batch_size = 32
    train_cli(cfg, tmp_path / 'one')
    cfg.train_dataloader.batch_size = 16
    train_cli(cfg, tmp_path / 'two', nproc=2)
    one, two = (json.load(open(RunLayout(str(tmp_path / w)).served))
                for w in ('one', 'two'))
    assert one == two and 'strengths' in one
    gen = json.load(open(RunLayout(str(tmp_path / 'two')).generation))
    assert gen['remade'] + gen['dropped'] > 0 and gen['kept'] > 0
    assert state_digest(tmp_path / 'two') == (
        state_digest(tmp_path / 'one')[0], 2)
