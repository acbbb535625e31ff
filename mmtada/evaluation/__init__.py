from .box_fidelity import found_fraction, pixel_change, psnr

__all__ = ['found_fraction', 'pixel_change', 'psnr']
