import os

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger

from mmtada.datasets import Digits, TADADataset
from mmtada.generators import VariantCache

PACK = [dict(type='mmpretrain.PackInputs')]


def wrap(n=20, **kwargs):
    return TADADataset(
        dict(type='mmtada.Digits', split='train', indices=n, pipeline=PACK),
        **kwargs)


def write_variants(ds, tmp_path, pairs):
    """Cache variants that differ from their source: the inverted image."""
    cache = VariantCache(str(tmp_path), ds.reader.fingerprint(),
                         dict(type='inv'))
    for s, v in pairs:
        cache.write(s, v, 255 - ds.reader.source_image(s))
    return cache


def test_length_is_fixed_and_slots_draw_the_real_data_before_selection():
    ds = wrap(20, num_slots=30, seed=1)
    assert len(ds) == 50 and ds.num_base == 20
    sources = [ds.get_data_info(i)['source_idx'] for i in range(20, 50)]
    counts = np.bincount(sources, minlength=20)
    assert counts.min() >= 1 and counts.max() == 2  # uniform cover
    item = ds[25]
    meta = item['data_samples'].metainfo
    assert meta['sample_idx'] == 25 and meta['is_synthetic'] is False
    base = ds.dataset[meta['source_idx']]
    assert np.array_equal(item['inputs'].numpy(), base['inputs'].numpy())
    assert len(wrap(20, slot_ratio=0.5)) == 30


def test_slots_serve_the_variants_after_selection(tmp_path):
    ds = wrap(20, num_slots=5)
    pairs = [(3, 0), (3, 1), (7, 0)]
    ds.set_variants(write_variants(ds, tmp_path, pairs), pairs)
    assert len(ds) == 25 and ds.variants == [(3, 0), (7, 0), (3, 1)]
    served = [ds.get_data_info(20 + j)['source_idx'] for j in range(5)]
    assert served == [3, 7, 3, 3, 7]  # cycled
    item = ds[21]
    meta = item['data_samples'].metainfo
    assert meta['is_synthetic'] is True and meta['source_idx'] == 7
    # RGB arrays in memory: the variant arrives as the inverted original
    src = ds.dataset[7]['inputs'].numpy().astype(int)
    assert np.array_equal(item['inputs'].numpy().astype(int), 255 - src)
    # base indices are untouched
    assert ds[3]['data_samples'].metainfo['is_synthetic'] is False
    assert ds.get_gt_labels()[21] == ds.reader.gt_labels()[7]
    assert ds.get_cat_ids(21) == [int(ds.reader.gt_labels()[7])]


def test_bgr_in_memory_order(tmp_path):
    ds = wrap(5, num_slots=1, in_memory_channel_order='bgr')
    ds.dataset.get_data_info(0)['img'][..., 0] = 0  # no effect: a copy
    pairs = [(0, 0)]
    cache = VariantCache(str(tmp_path), ds.reader.fingerprint(),
                         dict(type='c'))
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 255
    cache.write(0, 0, rgb)
    ds.set_variants(cache, pairs)
    assert ds.get_data_info(5)['img'][0, 0].tolist() == [0, 0, 255]


def test_replace_mode(tmp_path):
    ds = wrap(10, mode='replace', replace_prob=1.0)
    assert len(ds) == 10
    pairs = [(4, 0), (4, 1)]
    ds.set_variants(write_variants(ds, tmp_path, pairs), pairs)
    assert ds[4]['data_samples'].metainfo['is_synthetic'] is True
    assert ds[5]['data_samples'].metainfo['is_synthetic'] is False
    ds.replace_prob = 0.0
    assert ds[4]['data_samples'].metainfo['is_synthetic'] is False


def test_file_based_dataset_serves_cached_files(tmp_path):
    root = tmp_path / 'folder'
    for c in ('a', 'b'):
        os.makedirs(root / c)
        for i in range(3):
            img = np.full((8, 8, 3), 40 * i, np.uint8)
            img[..., 2] = 250  # red in BGR
            cv2.imwrite(str(root / c / f'{i}.png'), img)
    ds = TADADataset(
        dict(type='mmpretrain.CustomDataset', data_root=str(root),
             pipeline=[dict(type='mmpretrain.LoadImageFromFile')] + PACK),
        num_slots=2)
    src = ds.reader.source_image(1)
    assert src[0, 0, 0] == 250  # RGB for the generator
    pairs = [(1, 0)]
    cache = VariantCache(str(tmp_path / 'c'), ds.reader.fingerprint(),
                         dict(t=1))
    cache.write(1, 0, src)
    ds.set_variants(cache, pairs)
    assert ds.get_data_info(6)['img_path'] == cache.path(1, 0)
    # read by the pipeline exactly as the original (BGR)
    assert np.array_equal(ds[6]['inputs'].numpy(), ds[1]['inputs'].numpy())


def test_forwards_metainfo_and_labels():
    ds = wrap(12, num_slots=3)
    assert ds.CLASSES == Digits.METAINFO['classes']
    assert ds.metainfo['classes'] == ds.CLASSES
    assert ds.class_to_idx['3'] == 3
    labels = ds.get_gt_labels()
    assert len(labels) == 15
    source = ds.get_data_info(12)['source_idx']
    assert labels[12] == ds.reader.gt_labels()[source]


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(TypeError, match='BaseDataset'):
        TADADataset([1, 2, 3])
    with pytest.raises(ValueError, match='mode'):
        wrap(mode='double')
    ds = wrap(5, num_slots=1)
    with pytest.raises(IndexError, match='another dataset'):
        ds.set_variants(None, [(9, 0)])


def served_in(ds, epoch):
    """(source, variant) each slot serves in ``epoch``, as items say."""
    ds.set_epoch(epoch)
    metas = [ds[j]['data_samples'].metainfo
             for j in range(ds.num_base, len(ds))]
    return [(m['source_idx'], m['variant_idx']) for m in metas]


def test_more_variants_than_slots_are_served_in_turn(tmp_path, capsys):
    MMLogger.get_instance('mmtada-test')
    ds = wrap(10, num_slots=4)
    pairs = [(s, v) for s in (1, 2, 8) for v in range(3)]  # 9 variants
    ds.set_variants(write_variants(ds, tmp_path, pairs), pairs)
    assert 'each epoch serves the next 4 in turn' in capsys.readouterr().out
    epochs = [served_in(ds, e) for e in range(9)]
    # the first epoch takes a variant of every sample before a second
    assert sorted(s for s, _ in epochs[0]) == [1, 1, 2, 8]
    # over 9 epochs (36 slots) every variant is served exactly 4 times
    counts = {}
    for served in epochs:
        assert len(set(served)) == 4  # no repeat within an epoch
        for p in served:
            counts[p] = counts.get(p, 0) + 1
    assert counts == {p: 4 for p in pairs}
    assert len(ds) == 14  # the loader length is unchanged


def test_fewer_variants_than_slots_are_served_evenly_across_epochs(
        tmp_path):
    ds = wrap(10, num_slots=5)
    pairs = [(3, 0), (3, 1), (7, 0)]
    ds.set_variants(write_variants(ds, tmp_path, pairs), pairs)
    counts = {}
    for e in range(3):  # 15 slots: 5 each
        for p in served_in(ds, e):
            counts[p] = counts.get(p, 0) + 1
    assert counts == {p: 5 for p in pairs}


def test_loader_workers_see_the_epoch_without_a_restart(tmp_path):
    """Persistent workers hold a copy of the dataset: the epoch is in
    shared memory, so they serve each epoch's turn."""
    import torch
    from mmengine.dataset import pseudo_collate
    ds = wrap(10, num_slots=4)
    pairs = [(s, v) for s in (1, 2, 8) for v in range(3)]
    ds.set_variants(write_variants(ds, tmp_path, pairs), pairs)
    expect = [served_in(ds, e) for e in range(3)]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, range(10, 14)), batch_size=2,
        num_workers=2, persistent_workers=True, collate_fn=pseudo_collate)
    for e in range(3):
        ds.set_epoch(e)
        got = [(s.metainfo['source_idx'], s.metainfo['variant_idx'])
               for batch in loader for s in batch['data_samples']]
        assert got == expect[e]


def test_wraps_repeated_and_concatenated_sets_per_distinct_sample(tmp_path):
    from test_sample_reader import folder_set
    load = [dict(type='mmpretrain.LoadImageFromFile')] + PACK
    parts = [dict(folder_set(tmp_path / n, [f'{i}.png' for i in range(k)]),
                  pipeline=load) for n, k in (('07', 3), ('12', 2))]
    ds = TADADataset(dict(type='RepeatDataset', times=2, dataset=dict(
        type='ConcatDataset', datasets=parts)), num_slots=4)
    assert len(ds) == 10 + 4 and ds.num_base == 10 and len(ds.reader) == 5
    # index 7 is the repeat of distinct sample 2 (07's third image)
    item = ds[7]
    assert item['data_samples'].metainfo['source_idx'] == 2
    assert item['data_samples'].metainfo['img_path'].endswith('07/2.png')
    pairs = [(4, 0)]  # a variant of 12's second image
    cache = VariantCache(str(tmp_path / 'c'), ds.reader.fingerprint(),
                         dict(t=1))
    cache.write(4, 0, 255 - ds.reader.source_image(4))
    ds.set_variants(cache, pairs)
    out = ds[10]
    assert out['data_samples'].metainfo['source_idx'] == 4
    assert out['data_samples'].is_synthetic
    assert ds.get_cat_ids(10) == [1] and ds.get_gt_labels()[10] == 1
    # a pipeline switch (mmdet's PipelineSwitchHook) reaches every part
    from mmengine.dataset import Compose
    ds.pipeline = Compose(load[:1])
    assert set(ds[0]) >= {'img', 'source_idx'} and 'inputs' not in ds[0]
    assert ds.reader.leaves[1].pipeline is ds.pipeline


def test_found_inside_a_concat_dataset_beside_other_data():
    from mmengine.dataset import ConcatDataset

    from mmtada.datasets import find_tada_dataset
    other = dict(type='mmtada.Digits', split='test', indices=4,
                 pipeline=PACK)
    tada = dict(type='mmtada.TADADataset', num_slots=2, dataset=dict(
        type='mmtada.Digits', split='train', indices=6, pipeline=PACK))
    both = ConcatDataset([other, tada])
    assert find_tada_dataset(both) is both.datasets[1]
    with pytest.raises(TypeError, match="type='mmtada.TADADataset'"):
        find_tada_dataset(ConcatDataset([other]))


class Grey(Digits):
    """The digits as MNIST holds its images: (H, W) uint8, one channel."""

    def load_data_list(self):
        infos = super().load_data_list()
        for info in infos:
            info['img'] = info['img'][..., 0].copy()
        return infos


def test_grey_in_memory_variants_are_served_grey(tmp_path):
    ds = TADADataset(Grey(split='train', indices=10, pipeline=PACK),
                     num_slots=2)
    assert ds[0]['inputs'].shape == (1, 16, 16)
    fmt = ds.reader.source_format(3)
    assert fmt.channels == 1 and fmt.ndim == 2
    cache = VariantCache(str(tmp_path), ds.reader.fingerprint(), dict(g=1))
    cache.write(3, 0, 255 - ds.reader.source_image(3), fmt)
    ds.set_variants(cache, [(3, 0)])
    served = ds[10]['inputs']
    assert served.shape == (1, 16, 16)  # stacks with the real items
    assert np.array_equal(served.numpy()[0],
                          255 - ds[3]['inputs'].numpy()[0])


def test_16_bit_grey_files_keep_their_depth_unchanged(tmp_path):
    from test_sample_reader import folder_set
    load = [dict(type='mmpretrain.LoadImageFromFile',
                 color_type='unchanged')]
    ds = TADADataset(dict(folder_set(tmp_path / 'd', ['0.png', '1.png'],
                                     mode='I;16'), pipeline=load),
                     num_slots=1)
    src = ds[1]['img']
    assert src.dtype == np.uint16 and src.ndim == 2
    cache = VariantCache(str(tmp_path / 'c'), ds.reader.fingerprint(),
                         dict(u=1))
    rgb = ds.reader.source_image(1)
    cache.write(1, 0, rgb, ds.reader.source_format(1))
    ds.set_variants(cache, [(1, 0)])
    variant = ds[2]['img']
    assert variant.dtype == np.uint16 and variant.shape == src.shape
    # an exact copy made at 8 bits comes back within one 8-bit step
    assert np.abs(variant.astype(int) - src.astype(int)).max() <= 257


def test_get_subset_is_refused_naming_the_wrapped_dataset_instead():
    """As mmengine's ConcatDataset and RepeatDataset refuse it: the
    wrapper's indices are not the base samples the selection keys on."""
    ds = wrap(20, num_slots=5)
    for method in (ds.get_subset, ds.get_subset_):
        with pytest.raises(NotImplementedError,
                           match='subset of the wrapped dataset first'):
            method(10)
    assert len(ds) == 25 and ds.num_base == 20  # unchanged
    # what the message says to do instead works
    inner = Digits(split='train', indices=20, pipeline=PACK)
    small = TADADataset(inner.get_subset(8), num_slots=2)
    assert len(small) == 10 and small.num_base == 8
