from .score_histogram import score_histogram
from .selection_grid import selection_grid
from .variant_grid import draw_boxes, pick_per_class, save_png, variant_grid

__all__ = [
    'draw_boxes', 'pick_per_class', 'save_png', 'score_histogram',
    'selection_grid', 'variant_grid'
]
