import os
import os.path as osp
import subprocess
import sys

import pytest

from mmtada.utils import (atomic_path, atomic_write_bytes, atomic_write_json,
                          remove_stale_temp_files, replace_dir, temp_prefix)


def test_atomic_write_leaves_the_old_file_or_the_whole_new_one(tmp_path):
    path = str(tmp_path / 'sub' / 'f.bin')
    atomic_write_bytes(path, b'old')
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            open(tmp, 'wb').write(b'half')
            raise RuntimeError('killed')
    assert open(path, 'rb').read() == b'old'
    assert os.listdir(tmp_path / 'sub') == ['f.bin']  # no temp left
    atomic_write_json(path, dict(a=1, when=osp))  # a module: as its str
    assert open(path).read().startswith('{"a": 1, "when": "<module')


def test_temp_names_carry_host_pid_and_the_extension(tmp_path):
    import torch
    path = str(tmp_path / 'state.pth')
    with atomic_path(path) as tmp:
        assert osp.basename(tmp).startswith(temp_prefix())
        assert str(os.getpid()) in osp.basename(tmp)
        assert tmp.endswith('.pth')
        torch.save(dict(step=3), tmp)  # torch wants a name with a stem
    assert torch.load(path)['step'] == 3


def test_only_dead_processes_temp_files_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, '-c', 'import os; print(os.getpid())'],
        capture_output=True, text=True).stdout.strip()
    prefix = temp_prefix().rsplit('-', 2)[0]  # .tmp-<host>
    stale = tmp_path / f'{prefix}-{dead}-abc'
    live = tmp_path / f'{temp_prefix()}def'
    other_host = tmp_path / f'.tmp-00000000-{dead}-ghi'
    for p in (stale, live, other_host):
        p.write_bytes(b'')
    assert remove_stale_temp_files(str(tmp_path)) == 1
    assert not stale.exists() and live.exists() and other_host.exists()


def test_replace_dir_swaps_a_finished_folder_in(tmp_path):
    folder, tmp = tmp_path / 'model', tmp_path / 'model.tmp'
    folder.mkdir()
    (folder / 'old.json').write_text('1')
    tmp.mkdir()
    (tmp / 'new.json').write_text('2')
    replace_dir(str(tmp), str(folder))
    assert os.listdir(folder) == ['new.json'] and not tmp.exists()
    assert not (tmp_path / 'model.old').exists()
