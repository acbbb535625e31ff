from .variant_grid import pick_per_class, save_png, variant_grid

__all__ = ['pick_per_class', 'save_png', 'variant_grid']
