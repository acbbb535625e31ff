import numpy as np
import pytest

from mmtada.datasets import Digits


def test_digits_split_is_fixed_stratified_and_rgb():
    train = Digits(split='train')
    test = Digits(split='test')
    assert len(train) + len(test) == 1797
    assert len(test) == 445
    info = train.get_data_info(0)
    assert info['img'].shape == (16, 16, 3) and info['img'].dtype == np.uint8
    assert np.array_equal(info['img'][..., 0], info['img'][..., 2])
    test_counts = np.bincount(test.get_gt_labels(), minlength=10)
    all_counts = test_counts + np.bincount(train.get_gt_labels(), minlength=10)
    assert np.array_equal(test_counts, all_counts // 4)  # stratified
    again = Digits(split='test')
    assert np.array_equal(again.get_data_info(5)['img'],
                          test.get_data_info(5)['img'])
    assert Digits(split='train', size=32).get_data_info(0)['img'].shape[0] \
        == 32
    with pytest.raises(ValueError, match='split'):
        Digits(split='val')
