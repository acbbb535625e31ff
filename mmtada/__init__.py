"""mmtada: targeted diffusion augmentation (TADA) for OpenMMLab.

Importing it first applies the fixes of :mod:`mmtada.compat`.
"""
from .compat import apply_all as _apply_compat_fixes

_apply_compat_fixes()

from .version import __version__  # noqa: E402

__all__ = ['__version__']
