from .variant_grid import draw_boxes, pick_per_class, save_png, variant_grid

__all__ = ['draw_boxes', 'pick_per_class', 'save_png', 'variant_grid']
