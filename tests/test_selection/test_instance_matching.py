import pytest
import torch

from mmtada.selection import box_iou, match_instances


def test_box_iou_values_and_degenerate_boxes():
    a = torch.tensor([[0., 0., 10., 10.], [5., 5., 5., 9.]])
    b = torch.tensor([[0., 0., 10., 10.], [5., 0., 15., 10.],
                      [20., 20., 30., 30.]])
    iou = box_iou(a, b)
    assert iou[0].tolist() == pytest.approx([1.0, 50 / 150, 0.0])
    assert iou[1].tolist() == [0.0, 0.0, 0.0]  # zero-area box


def test_match_takes_best_score_per_class_above_iou():
    gt = torch.tensor([[0., 0., 10., 10.], [50., 50., 60., 60.]])
    pred = torch.tensor([
        [0., 0., 10., 10.],  # class 1, on gt 0
        [1., 1., 10., 10.],  # class 1, on gt 0, higher score
        [0., 0., 10., 10.],  # class 2, on gt 0
        [5., 0., 15., 10.],  # class 0, IoU 1/3 with gt 0: too little
        [100., 100., 110., 110.],  # class 0, on nothing
    ])
    scores = torch.tensor([0.4, 0.7, 0.2, 0.9, 0.8])
    labels = torch.tensor([1, 1, 2, 0, 0])
    rows = match_instances(gt, pred, scores, labels, 3, iou_thr=0.5)
    assert rows[0].tolist() == pytest.approx([0.0, 0.7, 0.2])
    assert rows[1].tolist() == [0.0, 0.0, 0.0]
    loose = match_instances(gt, pred, scores, labels, 3, iou_thr=0.3)
    assert loose[0, 0].item() == pytest.approx(0.9)


def test_match_without_predictions_or_boxes():
    gt = torch.tensor([[0., 0., 10., 10.]])
    empty = torch.zeros(0, 4)
    none = torch.zeros(0)
    assert match_instances(gt, empty, none, none.long(), 4).tolist() == [
        [0.0] * 4]
    assert match_instances(empty, gt, torch.ones(1), torch.zeros(
        1, dtype=torch.long), 4).shape == (0, 4)
