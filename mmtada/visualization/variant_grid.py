"""A picture of source images beside their variants."""
from typing import List, Sequence, Tuple, Union

import cv2
import numpy as np


def variant_grid(rows: Sequence[Sequence[np.ndarray]],
                 cell: Union[int, Tuple[int, int]] = 64, pad: int = 2,
                 titles: Sequence[str] = ()) -> np.ndarray:
    """Tile ``rows`` (each: a source image, then its variants; uint8 RGB)
    into one uint8 RGB image, each image scaled to ``cell`` pixels, or
    ``(width, height)`` (nearest when enlarging, so pixels stay visible).
    ``titles`` label the columns."""
    cw, ch = (cell, cell) if isinstance(cell, int) else cell
    n_cols = max(len(r) for r in rows)
    head = 14 if titles else 0
    h = head + len(rows) * (ch + pad) + pad
    w = n_cols * (cw + pad) + pad
    grid = np.full((h, w, 3), 255, np.uint8)
    for j, title in enumerate(titles):
        cv2.putText(grid, str(title), (pad + j * (cw + pad), 11),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y = head + pad + i * (ch + pad)
            x = pad + j * (cw + pad)
            shrink = cw * ch < img.shape[0] * img.shape[1]
            grid[y:y + ch, x:x + cw] = cv2.resize(
                img, (cw, ch), interpolation=cv2.INTER_AREA
                if shrink else cv2.INTER_NEAREST)
    return grid


def draw_boxes(rgb: np.ndarray, bboxes: np.ndarray,
               color=(255, 255, 0)) -> np.ndarray:
    """A copy of ``rgb`` with the xyxy ``bboxes`` outlined."""
    out = np.ascontiguousarray(rgb).copy()
    t = max(1, round(max(rgb.shape[:2]) / 200))
    for x1, y1, x2, y2 in np.asarray(bboxes).reshape(-1, 4):
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), color, t)
    return out


def save_png(path: str, rgb: np.ndarray) -> None:
    """Write ``rgb`` as a PNG, whole (temp file, then rename)."""
    from mmtada.utils import atomic_write_bytes
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f'cannot encode {path}')
    atomic_write_bytes(path, buf.tobytes())


def pick_per_class(labels: np.ndarray, per_class: int) -> List[int]:
    """The first ``per_class`` indices of each class, class by class."""
    out = []
    for c in np.unique(labels):
        out += np.flatnonzero(labels == c)[:per_class].tolist()
    return out
