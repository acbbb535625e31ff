"""SampleReader: the base samples as generators and tools read them."""
import cv2
import numpy as np
import pytest
from mmengine.dataset import BaseDataset
from mmpretrain.datasets import CustomDataset

from mmtada.datasets import Digits, SampleReader
from mmtada.generators import SampleSource


def test_reads_labels_annotations_and_images_of_the_base_samples():
    digits = Digits(split='train', indices=30, pipeline=[])
    reader = SampleReader(digits)
    assert isinstance(reader, SampleSource)
    assert len(reader) == 30 and reader.classes == Digits.METAINFO['classes']
    assert not reader.is_detection
    labels = reader.gt_labels()
    assert labels.tolist() == digits.get_gt_labels().tolist()
    assert reader.source_annotation(3) == dict(
        gt_label=int(labels[3]), class_name=str(labels[3]))
    img = reader.source_image(3)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    info = reader.data_info(3)
    info['img'][...] = 0  # a copy: the dataset is not changed
    assert reader.source_image(3).any()
    fp = reader.fingerprint()
    assert fp == SampleReader(Digits(split='train', indices=30)).fingerprint()
    assert fp != SampleReader(Digits(split='train', indices=29)).fingerprint()
    with pytest.raises(ValueError, match="'rgb' or 'bgr'"):
        SampleReader(digits, in_memory_channel_order='hsv')


class InMemory(BaseDataset):
    """Two in-memory images of a given dtype."""

    def __init__(self, images, **kw):
        self.images = images
        super().__init__(**kw)

    def load_data_list(self):
        return [dict(img=img, gt_label=0) for img in self.images]


def test_in_memory_16_bit_images_scale_and_float_images_are_refused():
    wide = np.full((4, 4, 3), 0x8000, np.uint16)
    reader = SampleReader(InMemory([wide, wide.astype(np.float32) / 65535]))
    img = reader.source_image(0)
    assert img.dtype == np.uint8 and (img == 0x80).all()
    with pytest.raises(TypeError, match='store the dataset.s images as '
                       'uint8'):
        reader.source_image(1)


def test_corrupt_source_image_is_a_clear_error(tmp_path):
    good = tmp_path / 'a.png'
    cv2.imwrite(str(good), np.zeros((8, 8, 3), np.uint8))
    bad = tmp_path / 'b.png'
    bad.write_bytes(good.read_bytes()[:30])  # truncated
    (tmp_path / 'ann.txt').write_text('a.png 0\nb.png 1\n')
    reader = SampleReader(CustomDataset(
        data_root=str(tmp_path), ann_file='ann.txt', classes=['x', 'y'],
        pipeline=[]))
    assert reader.source_image(0).shape == (8, 8, 3)
    with pytest.raises(OSError, match='corrupt or truncated; replace it'):
        reader.source_image(1)


def folder_set(root, names, size=(8, 8), mode='RGB', dtype=np.uint8):
    """A CustomDataset folder: ``names`` images, labels by position."""
    from PIL import Image
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, name in enumerate(names):
        img = np.full((*size, 3), 30 * i % 250, np.uint8)
        img[0, 0] = (250, 0, 0)
        pil = Image.fromarray(img)
        if mode == 'I;16':
            pil = Image.fromarray((np.asarray(pil.convert('L')).astype(
                np.uint16) * 257))
        elif mode != 'RGB':
            pil = pil.convert(mode)
        pil.save(root / name)
        lines.append(f'{name} {i % 2}')
    (root / 'ann.txt').write_text('\n'.join(lines) + '\n')
    return dict(type='mmpretrain.CustomDataset', data_root=str(root),
                ann_file='ann.txt', classes=['a', 'b'], pipeline=[])


def test_concat_repeat_and_class_balanced_resolve_to_distinct_samples(
        tmp_path):
    from mmengine.dataset import ClassBalancedDataset
    from mmpretrain.registry import DATASETS
    parts = [folder_set(tmp_path / 'a', ['0.png', '1.png', '2.png']),
             folder_set(tmp_path / 'b', ['0.png', '1.png'])]
    # mmdet's VOC recipe: RepeatDataset(ConcatDataset([voc07, voc12]))
    voc = DATASETS.build(dict(type='RepeatDataset', times=3, dataset=dict(
        type='ConcatDataset', datasets=parts)))
    reader = SampleReader(voc)
    assert len(voc) == 15 and len(reader) == 5
    assert reader.base_indices().tolist() == [0, 1, 2, 3, 4] * 3
    b = voc.dataset.datasets[1]
    assert reader.locate(4) == (b, 1)
    assert reader.data_info(3)['img_path'].endswith('b/0.png')
    assert reader.gt_labels().tolist() == [0, 1, 0, 0, 1]
    a = voc.dataset.datasets[0]
    balanced = ClassBalancedDataset(a, oversample_thr=0.9)
    reader = SampleReader(balanced)
    served = reader.base_indices()
    assert len(served) == len(balanced) > 3  # repeats, of the 3 samples
    assert sorted(set(served.tolist())) == [0, 1, 2]
    with pytest.raises(TypeError, match='wrap its inner dataset'):
        SampleReader([1, 2])


def test_fingerprint_follows_what_identifies_the_images(tmp_path):
    small = SampleReader(Digits(split='train', indices=20, size=8))
    large = SampleReader(Digits(split='train', indices=20, size=16))
    assert small.fingerprint() != large.fingerprint()  # same labels
    from mmpretrain.registry import DATASETS
    names = ['0.png', '1.png', '2.png']
    here = SampleReader(DATASETS.build(folder_set(tmp_path / 'x', names)))
    moved = SampleReader(DATASETS.build(folder_set(tmp_path / 'y', names)))
    other = SampleReader(DATASETS.build(folder_set(
        tmp_path / 'z', ['0.png', '1.png', '9.png'])))
    assert here.fingerprint() == moved.fingerprint()  # another root
    assert here.fingerprint() != other.fingerprint()  # another file list


def test_images_are_read_through_the_datasets_storage_backend(tmp_path):
    from mmengine.fileio import LocalBackend, register_backend
    from mmpretrain.registry import DATASETS

    @register_backend('tada_mapped', force=True)
    class Mapped(LocalBackend):
        """A remote store seen through a path mapping, as Petrel's."""

        def __init__(self, path_mapping=None, **kw):
            super().__init__(**kw)
            self.mapping = path_mapping or {}

        def get(self, filepath):
            for remote, local in self.mapping.items():
                filepath = str(filepath).replace(remote, local)
            return super().get(filepath)

    folder_set(tmp_path / 'data', ['0.png', '1.png'])
    args = dict(backend='tada_mapped',
                path_mapping={'remote:/bucket': str(tmp_path / 'data')})
    ds = DATASETS.build(dict(
        type='mmpretrain.CustomDataset', data_root='remote:/bucket',
        ann_file=str(tmp_path / 'data' / 'ann.txt'), classes=['a', 'b'],
        pipeline=[dict(type='mmpretrain.LoadImageFromFile',
                       backend_args=args)]))
    assert ds.get_data_info(1)['img_path'].startswith('remote:/bucket')
    reader = SampleReader(ds)
    assert reader.backend_args(ds) == args
    assert reader.source_image(1).shape == (8, 8, 3)  # not the local disk
    assert ds[1]['img'].shape == (8, 8, 3)  # as training reads it


def test_multi_label_datasets_are_refused_at_setup():
    from mmpretrain.datasets import MultiLabelDataset

    class Labels(MultiLabelDataset):
        def __init__(self, labels):
            self.labels = labels
            super().__init__(ann_file='', metainfo=dict(classes=list('abc')))

        def load_data_list(self):
            return [dict(img=np.zeros((4, 4, 3), np.uint8), gt_label=g)
                    for g in self.labels]

    for labels in ([[0], [1, 2], [2]], [[0, 1], [1, 2]]):  # ragged, equal
        with pytest.raises(ValueError, match='multi-label classification is '
                           'not supported yet'):
            SampleReader(Labels(labels)).gt_labels()


@pytest.mark.parametrize('mode,channels,dtype', [
    ('L', 1, np.uint8), ('RGB', 3, np.uint8), ('RGBA', 4, np.uint8),
    ('I;16', 1, np.uint16)])
def test_source_format_is_what_the_file_holds(tmp_path, mode, channels,
                                              dtype):
    from mmpretrain.registry import DATASETS
    reader = SampleReader(DATASETS.build(folder_set(
        tmp_path, ['0.png'], mode=mode)))
    fmt = reader.source_format(0)
    assert (fmt.channels, fmt.dtype) == (channels, dtype)
    assert (fmt.alpha is not None) == (channels == 4)
    assert reader.source_image(0).shape == (8, 8, 3)
