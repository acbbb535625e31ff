"""Checkpoints load with torch's safe unpickler (``weights_only=True``).

mmengine 0.10.7 loads a local checkpoint (``load_from``, ``--resume``,
``load_checkpoint``: the variant filter's judge, ``tools/test.py``) with
``torch.load(filename, map_location)``, which torch >= 2.6 runs with
``weights_only=True``: no code runs while unpickling, and mmengine's own
checkpoints are refused, because their message hub holds mmengine's
``HistoryBuffer`` and numpy arrays. :func:`load_from_local` keeps
``weights_only=True`` and allows, for the duration of the load, exactly the
globals that mmengine's, mmpretrain's, mmdet's and mmtada's checkpoints
hold (:func:`checkpoint_globals`). A checkpoint that needs anything else is
refused with one :class:`UntrustedCheckpointError` naming the global and
the opt-in for a file you trust, which is per file and typed on purpose:

- ``MMTADA_TRUSTED_CHECKPOINTS=/path/a.pth`` (several: separated by
  ``os.pathsep``, ``:`` on Linux) in the environment of the command, or
- ``mmtada.utils.trust_checkpoint('/path/a.pth')`` in Python.

Only the files named (compared by their real path) are then loaded with
``weights_only=False``; nothing else changes. :mod:`mmtada.utils.setup_env`
registers :func:`load_from_local` as mmengine's local loader on the stacks
that need it.
"""
import os
import os.path as osp
import pickle
import re
from typing import List, Set

import torch

TRUST_ENV = 'MMTADA_TRUSTED_CHECKPOINTS'

# Files trusted in this process by ``trust_checkpoint`` (real paths).
_trusted: Set[str] = set()


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a global outside the allow-list; loading it with
    ``weights_only=False`` could run code."""


# The statistics methods mmengine's HistoryBuffer pickles with each buffer
# (its ``__getstate__``), as ``getattr(HistoryBuffer, name)``.
_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _buffer_method(cls, name: str):
    """``builtins.getattr`` as mmengine's checkpoints use it, and only so:
    a default statistics method of ``HistoryBuffer``."""
    from mmengine.logging import HistoryBuffer
    if cls is HistoryBuffer and name in _BUFFER_METHODS:
        return getattr(cls, name)
    owner = f'{getattr(cls, "__module__", "?")}.' \
        f'{getattr(cls, "__qualname__", type(cls).__qualname__)}'
    raise pickle.UnpicklingError(
        f'Unsupported global: GLOBAL {owner}.{name} (through getattr)')


def checkpoint_globals() -> List:
    """The globals, beyond torch's own, that mmengine's, mmpretrain's,
    mmdet's and mmtada's checkpoints hold (``Runner.save_checkpoint``, with
    or without TADA, best checkpoints included). All come from the message
    hub: mmengine's ``HistoryBuffer``, which pickles its statistics methods
    as ``getattr(HistoryBuffer, 'min')`` (so ``builtins.getattr`` is
    allowed for exactly those four, see :func:`_buffer_method`), its numpy
    arrays (``ndarray``, ``dtype``, ``multiarray._reconstruct``, and the
    classes of the float64 and int64 dtypes, which torch checks when it
    sets a dtype's state) and numpy scalars in its runtime info
    (``multiarray.scalar``). Found by saving
    checkpoints with real runners and listing what
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` refuses
    (tests/test_utils/test_safe_loading.py checks the list). numpy 2
    pickles the two functions under ``numpy._core``, numpy 1 under
    ``numpy.core``; both names are allowed, so checkpoints saved under
    either load. mmtada's own state (``checkpoint['tada']``) needs none."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(
        np, '_core') else np.core.multiarray
    allowed = [HistoryBuffer, np.ndarray, np.dtype,
               (_buffer_method, 'builtins.getattr')]
    if hasattr(np, 'dtypes'):  # numpy >= 1.25: the classes of the dtypes
        allowed += [np.dtypes.Float64DType, np.dtypes.Int64DType]
    for name in ('_reconstruct', 'scalar'):
        for package in ('numpy.core', 'numpy._core'):
            allowed.append((getattr(multiarray, name),
                            f'{package}.multiarray.{name}'))
    return allowed


def trust_checkpoint(path: str) -> None:
    """Load the checkpoint at ``path``, and only it, with
    ``weights_only=False`` in this process: unpickling it can run any code
    it holds. Call it only for a file you trust."""
    _trusted.add(osp.realpath(osp.expanduser(path)))


def is_trusted(path: str) -> bool:
    """Whether ``path`` was named by ``trust_checkpoint`` or in
    ``MMTADA_TRUSTED_CHECKPOINTS``."""
    real = osp.realpath(osp.expanduser(path))
    named = [p for p in os.environ.get(TRUST_ENV, '').split(os.pathsep) if p]
    return real in _trusted or real in {
        osp.realpath(osp.expanduser(p)) for p in named}


def _allowed():
    """Allow :func:`checkpoint_globals` while loading (a context); a global
    a user allowed with ``torch.serialization.add_safe_globals`` stays."""
    present = torch.serialization.get_safe_globals()
    return torch.serialization.safe_globals(
        [g for g in checkpoint_globals() if g not in present])


def _refused_globals(filename: str, message: str) -> List[str]:
    """The globals of ``filename`` that torch's safe unpickler refuses,
    found without unpickling it; from torch's ``message`` otherwise."""
    try:
        with _allowed():
            found = torch.serialization.get_unsafe_globals_in_checkpoint(
                filename)
    except Exception:  # a legacy (non-zip) file, or an older torch
        found = []
    # a GLOBAL torch refused; a type built (a numpy dtype's class) it did
    return found or re.findall(r'GLOBAL ([\w.]+)', message) or re.findall(
        r"build .* but got <class '([\w.]+)'>", message)


def safe_load(filename: str, map_location=None):
    """``torch.load(filename, map_location, weights_only=True)`` with the
    allow-list of :func:`checkpoint_globals`; a file named by
    :func:`trust_checkpoint` or ``MMTADA_TRUSTED_CHECKPOINTS`` is loaded
    with ``weights_only=False``. Anything else the file needs is one
    :class:`UntrustedCheckpointError`."""
    if is_trusted(filename):
        return torch.load(filename, map_location=map_location,
                          weights_only=False)
    try:
        with _allowed():
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as e:
        refused = _refused_globals(filename, str(e))
        if not refused:
            raise
        real = osp.realpath(osp.expanduser(filename))
        raise UntrustedCheckpointError(
            f'checkpoint {filename} holds {", ".join(refused)}, which '
            "mmtada's safe loading refuses (torch.load with "
            'weights_only=True; allowed: tensors, plain containers and '
            "mmengine's HistoryBuffer and numpy arrays): unpickling it "
            'could run code. Only if you trust this file, load it fully '
            f'with {TRUST_ENV}={real} in the environment of the command '
            f"(or mmtada.utils.trust_checkpoint('{real}') in Python)."
        ) from None


def load_from_local(filename: str, map_location=None):
    """mmengine's local checkpoint loader (``CheckpointLoader``'s scheme
    ``''``), loading through :func:`safe_load`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_load(filename, map_location)
