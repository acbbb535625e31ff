"""Whether every rank sees the same folder: the check before generation.

The variant cache is written by every rank (each its share) and read by
every rank, so its folder must be one that all of them see, e.g. a shared
file system. On a multi-node job whose ``work_dir`` (and with it the
default ``cache_dir``) is a node-local disk, the ranks of one node would
make variants the others never see.
"""
import socket
import uuid
from typing import Optional

from mmengine import dist

from .storage import Storage


def check_shared_folder(folder: str, setting: str = 'cache_dir',
                        backend_args: Optional[dict] = None) -> None:
    """Rank 0 writes a marker file into ``folder`` (through
    ``backend_args``, see :class:`~mmtada.utils.storage.Storage`); every
    rank looks for it. One clear error on every rank, naming the hosts
    that do not see it and ``setting``, if any rank does not. Collective:
    every rank of the process group calls it; one process returns at
    once."""
    if dist.get_world_size() == 1:
        return
    storage = Storage(folder, backend_args)
    token = [uuid.uuid4().hex if dist.is_main_process() else None]
    dist.broadcast_object_list(token)
    marker = storage.join(folder, f'.shared-check-{token[0]}')
    if dist.is_main_process():
        storage.put(marker, token[0].encode())
    dist.barrier()
    try:
        sees = storage.get(marker).decode() == token[0]
    except OSError:
        sees = False
    seen = dist.all_gather_object((sees, socket.gethostname()))
    dist.barrier()  # every rank has looked
    if dist.is_main_process():
        storage.remove(marker)
    blind = sorted({host for ok, host in seen if not ok})
    if blind:
        raise RuntimeError(
            f'{folder} is not shared by every rank: what rank 0 writes '
            f"there, the ranks on {', '.join(blind)} do not see (a "
            'node-local work_dir on a multi-node job?). Set the hook\'s '
            f'{setting}= to a folder on storage every node mounts at the '
            'same path (a shared file system).')
