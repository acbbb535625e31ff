import math

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmtada.evaluation import found_fraction, pixel_change, psnr


def test_pixel_change_inside_and_outside_the_boxes():
    src = np.zeros((20, 40, 3), np.uint8)
    var = src.copy()
    var[:, 20:] = 10  # the right half changed
    out = pixel_change(src, var, np.array([[0, 0, 10, 20]]))
    assert out['mad_inside'] == 0 and out['mse_inside'] == 0
    assert out['mad_outside'] == pytest.approx(20 / 30 * 10)
    assert psnr(out['mse_inside']) == math.inf
    assert psnr(100.0) == pytest.approx(10 * math.log10(255**2 / 100))
    none = pixel_change(src, var, np.zeros((0, 4)))
    assert math.isnan(none['mad_inside']) and none['mad_outside'] == 5


def test_found_fraction_counts_boxes_found_by_class_iou_and_score():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]],
                  np.float32)
    labels = np.array([0, 1, 1])
    pred = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.],
                             [40., 40., 50., 50.]]),
        scores=torch.tensor([0.9, 0.9, 0.1]),
        labels=torch.tensor([0, 2, 1]))  # right, wrong class, too low
    assert found_fraction(gt, labels, pred, 3) == pytest.approx(1 / 3)
    assert found_fraction(gt, labels, pred, 3, score_thr=0.05) == \
        pytest.approx(2 / 3)
    assert found_fraction(gt[:0], labels[:0], pred, 3) is None
