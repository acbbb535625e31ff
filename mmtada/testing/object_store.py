"""An object store for tests and trials: an mmengine file backend with the
semantics of S3-like stores (``objstore://<key>``), kept in a local folder.

It offers what such stores offer and nothing else: ``get`` and ``put`` of
whole objects, ``exists``, ``remove`` and listing by prefix; no rename, no
append, no local paths (``get_local_path`` refuses). Code that works
through it uses only what mmtada's :class:`~mmtada.utils.storage.Storage`
promises to use of a real store's backend (``petrel://`` or a user's
registered one). Every process that imports this module can reach the
store: its folder is ``backend_args=dict(backend='objstore', root=...)``'s
``root``, else ``$MMTADA_OBJECT_STORE`` (set it for every rank and
worker). A put is made whole by the store (staged outside the key space,
then moved in), as a real store's is.
"""
import os
import os.path as osp
import tempfile
from typing import Iterator, Optional, Union

from mmengine.fileio import register_backend
from mmengine.fileio.backends import BaseStorageBackend

PREFIX = 'objstore://'
STAGING = '.staging'  # the store's own, never a key


class FolderObjectStore(BaseStorageBackend):
    """``objstore://<key>`` kept as ``<root>/<key>``.

    Args:
        root (str, optional): the store's folder. Defaults to None:
            ``$MMTADA_OBJECT_STORE``.
    """

    def __init__(self, root: Optional[str] = None):
        root = root or os.environ.get('MMTADA_OBJECT_STORE')
        if not root:
            raise ValueError('the objstore backend needs its folder: '
                             'backend_args=dict(backend=\'objstore\', '
                             'root=...) or $MMTADA_OBJECT_STORE.')
        self.root = str(root)

    def _key(self, uri: Union[str, os.PathLike]) -> str:
        uri = str(uri)
        if not uri.startswith(PREFIX):
            raise ValueError(f'{uri} is not an {PREFIX} URI.')
        key = uri[len(PREFIX):].strip('/')
        if not key or key.split('/')[0] == STAGING or '..' in key.split('/'):
            raise ValueError(f'{uri} is not a key of this store.')
        return key

    def _file(self, uri) -> str:
        return osp.join(self.root, *self._key(uri).split('/'))

    def get(self, filepath) -> bytes:
        with open(self._file(filepath), 'rb') as f:
            return f.read()

    def get_text(self, filepath, encoding: str = 'utf-8') -> str:
        return self.get(filepath).decode(encoding)

    def put(self, obj: bytes, filepath) -> None:
        path = self._file(filepath)
        staging = osp.join(self.root, STAGING)
        os.makedirs(staging, exist_ok=True)
        os.makedirs(osp.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=staging)
        with os.fdopen(fd, 'wb') as f:
            f.write(obj)
        os.replace(tmp, path)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)

    def exists(self, filepath) -> bool:
        return osp.exists(self._file(filepath))

    def isdir(self, filepath) -> bool:
        return osp.isdir(self._file(filepath))

    def isfile(self, filepath) -> bool:
        return osp.isfile(self._file(filepath))

    def join_path(self, filepath, *filepaths) -> str:
        parts = [str(filepath).rstrip('/')]
        parts += [str(p).strip('/') for p in filepaths]
        return '/'.join(parts)

    def remove(self, filepath) -> None:
        os.unlink(self._file(filepath))

    def get_local_path(self, filepath):
        raise NotImplementedError('an object store has no local paths.')

    def list_dir_or_file(self, dir_path, list_dir: bool = True,
                         list_file: bool = True, suffix=None,
                         recursive: bool = False) -> Iterator[str]:
        """Names under ``dir_path`` (relative to it), as mmengine's
        backends list them."""
        top = self._file(dir_path)
        for folder, dirs, files in os.walk(top):
            rel = osp.relpath(folder, top)
            prefix = '' if rel == '.' else rel.replace(os.sep, '/') + '/'
            if list_dir:
                yield from (prefix + d for d in sorted(dirs))
            if list_file:
                yield from (prefix + f for f in sorted(files)
                            if suffix is None or f.endswith(suffix))
            if not recursive:
                return


register_backend('objstore', FolderObjectStore, force=True,
                 prefixes='objstore')
