"""A folder of whole files on any storage mmengine's file backends reach.

The variant cache, the selection and the shared-folder marker go through
here, so they can live on a local disk, a shared file system, or an object
store with a registered mmengine backend (``backend_args`` as mmengine's
``CheckpointHook`` takes them; a URI prefix such as ``petrel://`` picks
the backend). What is used of a backend is what every object store
offers: ``get``, ``put`` of a whole object, ``exists``, ``remove`` and
listing. Nothing is renamed or appended to: a writer puts each file whole
under its final name (on a local disk through a temp file and a rename,
:func:`~mmtada.utils.fileio.atomic_write_bytes`; an object store's put is
whole by itself), so a reader sees the old object or the new one.

A :class:`Storage` pickles without its backend client (dataloader workers
and spawned processes build their own on first use).
"""
import os
import os.path as osp
from typing import List, Optional

from mmengine.fileio import LocalBackend, get_file_backend

from .fileio import atomic_write_bytes, remove_stale_temp_files


class Storage:
    """Whole-file access under ``root``.

    Args:
        root (str): a local folder or a backend URI (``petrel://b/tada``).
        backend_args (dict, optional): mmengine backend arguments (e.g.
            ``dict(backend='petrel', path_mapping=...)``). Defaults to
            None: chosen by ``root``'s prefix (none: the local disk).
    """

    def __init__(self, root: str, backend_args: Optional[dict] = None):
        self.root = str(root)
        self.backend_args = None if backend_args is None \
            else dict(backend_args)
        self._backend = None
        self.local = isinstance(self.backend, LocalBackend)

    @property
    def backend(self):
        if self._backend is None:
            self._backend = get_file_backend(
                self.root, backend_args=self.backend_args)
        return self._backend

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _backend=None)

    def join(self, path: str, *parts: str) -> str:
        """``path`` joined with ``parts`` as the backend joins paths."""
        return self.backend.join_path(path, *parts)

    def put(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` whole (never a part under the name)."""
        if self.local:
            atomic_write_bytes(path, data)
        else:
            self.backend.put(data, path)

    def get(self, path: str) -> bytes:
        """The bytes at ``path``; FileNotFoundError when there are none."""
        if self.local:
            with open(path, 'rb') as f:
                return f.read()
        if not self.backend.exists(path):
            raise FileNotFoundError(path)
        data = self.backend.get(path)
        if data is None:  # some clients answer a missing key with None
            raise FileNotFoundError(path)
        return data

    def exists(self, path: str) -> bool:
        return self.backend.exists(path)

    def size(self, path: str) -> Optional[int]:
        """The size of the file at ``path`` (None: missing). An object
        store says only whether the object exists (its objects are whole):
        -1 then."""
        if self.local:
            try:
                return os.stat(path).st_size
            except FileNotFoundError:
                return None
        return -1 if self.backend.exists(path) else None

    def remove(self, path: str) -> None:
        """Delete ``path`` if it is there."""
        if self.local:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        elif self.backend.exists(path):
            self.backend.remove(path)

    def list(self, folder: str, suffix: str = '') -> List[str]:
        """The names of the files directly in ``folder`` ending with
        ``suffix``, sorted (none when it does not exist)."""
        if self.local and not osp.isdir(folder):
            return []
        if not self.local and not self.backend.isdir(folder):
            return []
        return sorted(self.backend.list_dir_or_file(
            folder, list_dir=False, suffix=suffix or None))

    def clean_temp(self, folder: str) -> int:
        """Delete what killed local writers left in ``folder`` (an object
        store has no temp files); returns how many."""
        return remove_stale_temp_files(folder) if self.local else 0
