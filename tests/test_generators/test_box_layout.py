import numpy as np

from mmtada.generators import layout_mask


def test_boxes_dilated_by_margin_and_clipped():
    m = layout_mask((50, 100), np.array([[10, 10, 30, 20]]), margin=0.1,
                    min_margin=0)
    ys, xs = np.nonzero(m)
    # 20x10 box, 10% margin: 2 px in x, 1 px in y
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (8, 32, 9, 21)
    edge = layout_mask((50, 100), np.array([[-20, -5, 10, 60]]), margin=0)
    assert edge[:, :12].all() and not edge[:, 12:].any()


def test_min_margin_degenerate_and_empty_boxes():
    m = layout_mask((40, 40), np.array([[20, 20, 20, 20]]), margin=0.5,
                    min_margin=3)
    ys, xs = np.nonzero(m)
    extent = (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1)
    assert extent == (17, 23, 17, 23)
    neg = layout_mask((40, 40), np.array([[30, 30, 10, 10]]), margin=0,
                      min_margin=0)
    assert not neg.any()  # negative size marks nothing
    assert not layout_mask((40, 40), np.zeros((0, 4))).any()
    assert not layout_mask((40, 40), ()).any()
