"""mmtada: targeted diffusion augmentation (TADA) for OpenMMLab.

Importing it first silences the pinned stack's known import-time warning
(mmengine 0.10.7 imports ``pkg_resources``, which setuptools 80 flags as
deprecated; harmless, see README "Install") and applies the fixes of
:mod:`mmtada.compat`. Every mmtada command imports it first.
"""
import warnings

warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated as an API',
    category=UserWarning)

from .compat import apply_all as _apply_compat_fixes  # noqa: E402

_apply_compat_fixes()

from .version import __version__  # noqa: E402

__all__ = ['__version__']
