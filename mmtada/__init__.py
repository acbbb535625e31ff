"""mmtada: targeted diffusion augmentation (TADA) for OpenMMLab.

Importing it registers mmtada's modules (through ``mmtada.registry``'s
locations) and applies, each only where its guard finds the installed
stack needs it, the import-time fixes of :mod:`mmtada.utils.setup_env`
(the ones mmpretrain's and mmdet's own ``tools/train.py`` need when they
import mmtada through ``custom_imports``). It also silences the pinned
stack's known import-time warning (mmengine 0.10.7 imports
``pkg_resources``, which setuptools 80 flags as deprecated; harmless, see
README "Install"). mmtada's tools apply every fix explicitly with
:func:`mmtada.utils.setup_env.setup_env`. ``mmtada.config_path(name)``
is the path of a shipped config (the fragments' old-style route).
"""
import warnings

warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated as an API',
    category=UserWarning)

from .utils import setup_env as _setup_env  # noqa: E402

_setup_env.apply_import_fixes()

from .utils.shipped_files import config_path  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'config_path']
