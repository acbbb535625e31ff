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
