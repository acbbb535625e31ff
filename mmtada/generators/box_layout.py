"""Layout masks: where an image's boxes are."""
import numpy as np


def layout_mask(shape, bboxes: np.ndarray, margin: float = 0.1,
                min_margin: int = 2) -> np.ndarray:
    """(H, W) bool mask, True inside every box dilated by ``margin`` of its
    own size (at least ``min_margin`` pixels) on each side.

    Boxes are xyxy in pixels; parts outside the image are clipped; boxes of
    zero or negative size mark nothing but their margin.
    """
    h, w = shape[:2]
    mask = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in np.asarray(bboxes, np.float64).reshape(-1, 4):
        mx = max(min_margin, margin * max(x2 - x1, 0))
        my = max(min_margin, margin * max(y2 - y1, 0))
        c1 = int(np.clip(np.floor(x1 - mx), 0, w))
        c2 = int(np.clip(np.ceil(x2 + mx), 0, w))
        r1 = int(np.clip(np.floor(y1 - my), 0, h))
        r2 = int(np.clip(np.ceil(y2 + my), 0, h))
        mask[r1:r2, c1:c2] = True
    return mask
