"""The selected samples with the highest scores beside their variants."""
import numpy as np

from .variant_grid import draw_boxes, variant_grid


def selection_grid(reader, cache, selection, pairs, rows: int = 8,
                   cell: int = None) -> np.ndarray:
    """A :func:`variant_grid` of up to ``rows`` selected samples of
    ``reader`` (a :class:`~mmtada.datasets.SampleReader`; highest score
    first, ties by index), each followed by the variants of it that
    ``pairs`` (the served (source, variant) pairs) names; boxes drawn for
    detection. Cells keep the first image's aspect; ``cell`` is their
    width (default 64, detection 160)."""
    scores = np.nan_to_num(np.asarray(selection.scores, float), nan=-1)
    chosen = sorted(selection.indices, key=lambda i: (-scores[i], i))
    served = {}
    for s, v in pairs:
        if v is not None and v not in served.setdefault(s, []):
            served[s].append(v)
    grid_rows = []
    for s in chosen[:rows]:
        images = [reader.source_image(s)] + [
            cache.read(s, v) for v in served.get(s, [])]
        if reader.is_detection:
            boxes = reader.source_annotation(s)['bboxes']
            images = [draw_boxes(img, boxes) for img in images]
        grid_rows.append(images)
    if not grid_rows:
        raise ValueError('the selection is empty: nothing to draw.')
    h, w = grid_rows[0][0].shape[:2]
    cw = cell or (160 if reader.is_detection else 64)
    width = max(len(r) for r in grid_rows)
    titles = ['real'] + [f'variant {v}' for v in range(width - 1)]
    return variant_grid(grid_rows, (cw, max(1, round(cw * h / w))),
                        titles=titles)
