"""Whole-file writes and the temp files they leave behind.

Every writer of mmtada (variant cache, selection, generation record,
report, diffusion checkpoints, data writers, tools) goes through here, so
that a reader sees the old file or the whole new one, never a part, and a
killed writer's leftovers can be told from a live writer's.

Temp names carry this host and process: ``.tmp-<host>-<pid>-*``, in the
destination's folder (a rename never crosses file systems).
"""
import contextlib
import glob
import hashlib
import json
import os
import os.path as osp
import re
import shutil
import socket
import tempfile
from typing import Iterator

HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
TMP_PREFIX = '.tmp-'


def temp_prefix() -> str:
    """The prefix of this process's temp files: ``.tmp-<host>-<pid>-``."""
    return f'{TMP_PREFIX}{HOST}-{os.getpid()}-'


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temp path beside ``path``, with its extension; when the
    block ends without an error it is renamed over ``path``, else deleted.
    For writers that take a file name (``torch.save``, ``cv2.imwrite``)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(),
                               suffix=osp.splitext(path)[1])
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole (temp file, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


def atomic_write_json(path: str, obj, **kwargs) -> None:
    """``json.dumps(obj, **kwargs)`` written whole; values json cannot
    encode are written as their ``str``."""
    kwargs.setdefault('default', str)
    atomic_write_bytes(path, json.dumps(obj, **kwargs).encode())


def replace_dir(tmp: str, folder: str) -> None:
    """Swap the finished folder ``tmp`` in for ``folder``: between the two
    renames ``folder`` is missing for an instant, never half-written."""
    old = f'{folder}.old'
    shutil.rmtree(old, ignore_errors=True)
    if osp.exists(folder):
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(folder: str) -> int:
    """Delete the temp files in ``folder`` left by killed processes of this
    host (another host's, or a live process's, are left alone); returns how
    many."""
    removed = 0
    pattern = re.compile(rf'{re.escape(TMP_PREFIX)}{HOST}-(\d+)-')
    for path in glob.glob(osp.join(folder, f'{TMP_PREFIX}{HOST}-*')):
        match = pattern.match(osp.basename(path))
        if match and not _pid_alive(int(match.group(1))):
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed
