"""A picture of source images beside their variants."""
from typing import List, Sequence

import cv2
import numpy as np


def variant_grid(rows: Sequence[Sequence[np.ndarray]], cell: int = 64,
                 pad: int = 2, titles: Sequence[str] = ()) -> np.ndarray:
    """Tile ``rows`` (each: a source image, then its variants; uint8 RGB)
    into one uint8 RGB image, each image scaled to ``cell`` pixels
    (nearest, so pixels stay visible). ``titles`` label the columns."""
    n_cols = max(len(r) for r in rows)
    head = 14 if titles else 0
    h = head + len(rows) * (cell + pad) + pad
    w = n_cols * (cell + pad) + pad
    grid = np.full((h, w, 3), 255, np.uint8)
    for j, title in enumerate(titles):
        cv2.putText(grid, str(title), (pad + j * (cell + pad), 11),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y = head + pad + i * (cell + pad)
            x = pad + j * (cell + pad)
            grid[y:y + cell, x:x + cell] = cv2.resize(
                img, (cell, cell), interpolation=cv2.INTER_NEAREST)
    return grid


def save_png(path: str, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f'cannot encode {path}')
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def pick_per_class(labels: np.ndarray, per_class: int) -> List[int]:
    """The first ``per_class`` indices of each class, class by class."""
    out = []
    for c in np.unique(labels):
        out += np.flatnonzero(labels == c)[:per_class].tolist()
    return out
