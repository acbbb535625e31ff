import cv2
import numpy as np

from mmtada.visualization import (draw_boxes, pick_per_class, save_png,
                                  variant_grid)


def test_grid_places_each_image_in_its_cell(tmp_path):
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((5, 7, 3), np.uint8)
    blue[..., 2] = 255
    grid = variant_grid([[red, blue], [blue]], cell=10, pad=1)
    assert grid.shape == (2 * 11 + 1, 2 * 11 + 1, 3)
    assert grid[1:11, 1:11, 0].min() == 255 and grid[1:11, 1:11, 2].max() == 0
    assert grid[1:11, 12:22, 2].min() == 255
    assert (grid[12:22, 12:22] == 255).all()  # an empty cell stays white
    titled = variant_grid([[red]], cell=10, titles=['real'])
    assert titled.shape[0] == 14 + (10 + 2) + 2
    assert titled[:14].min() < 128  # the title is drawn above the cells
    path = str(tmp_path / 'g.png')
    save_png(path, grid)
    assert np.array_equal(cv2.imread(path)[..., ::-1], grid)


def test_pick_per_class():
    labels = np.array([2, 0, 2, 1, 0, 2])
    assert pick_per_class(labels, 1) == [1, 3, 0]
    assert pick_per_class(labels, 2) == [1, 4, 3, 0, 2]


def test_rectangular_cells_and_boxes():
    img = np.zeros((40, 80, 3), np.uint8)
    grid = variant_grid([[img, img]], cell=(40, 20), pad=1)
    assert grid.shape == (1 + 21, 1 + 2 * 41, 3)
    boxed = draw_boxes(img, np.array([[10, 5, 30, 25]]), color=(0, 255, 0))
    assert boxed[5, 10:31, 1].min() == 255 and boxed[15, 20, 1] == 0
    assert img.max() == 0  # the input is not drawn on


def test_score_histogram_draws_an_image():
    from mmtada.visualization import score_histogram
    scores = np.r_[np.linspace(0, 1, 50), np.nan]
    img = score_histogram(scores, scores > 0.7, 'title')
    assert img.shape == (300, 500, 3) and img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 10
    assert score_histogram([np.nan], [False]).shape == (300, 500, 3)
