import json
import os

import numpy as np
import pytest

from mmtada.generators import VariantCache, check_writable, settings_key


def test_write_read_is_lossless_rgb(tmp_path):
    cache = VariantCache(str(tmp_path), 'f' * 40, dict(type='X', seed=0))
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 0] = 200  # pure red in RGB
    path = cache.write(1234, 2, img)
    assert path.endswith(os.path.join('00001', '1234_2.png'))
    assert cache.has(1234, 2) and not cache.has(1234, 3)
    np.testing.assert_array_equal(cache.read(1234, 2), img)
    # no temp file left behind
    assert sorted(os.listdir(os.path.dirname(path))) == ['1234_2.png']
    meta = json.load(open(os.path.join(cache.dir, 'settings.json')))
    assert meta['settings'] == dict(type='X', seed=0)


def test_settings_and_dataset_key_the_folder(tmp_path):
    a = VariantCache(str(tmp_path), 'a' * 40, dict(type='X', seed=0))
    b = VariantCache(str(tmp_path), 'a' * 40, dict(type='X', seed=1))
    c = VariantCache(str(tmp_path), 'b' * 40, dict(type='X', seed=0))
    assert len({a.dir, b.dir, c.dir}) == 3
    assert settings_key(dict(p=1, q=2)) == settings_key(dict(q=2, p=1))


def test_unreadable_variant_names_the_fix(tmp_path):
    cache = VariantCache(str(tmp_path), 'a' * 40, dict(type='X'))
    cache.write(0, 0, np.zeros((2, 2, 3), np.uint8))
    open(cache.path(0, 0), 'wb').write(b'not a png')
    with pytest.raises(OSError, match='delete it and rerun'):
        cache.read(0, 0)


def fill(cache, n, size=40):
    rng = np.random.RandomState(0)
    for i in range(n):
        cache.write(i, 0, rng.randint(0, 256, (size, size, 3), np.uint8))


def test_corrupt_or_truncated_variant_fails_verification(tmp_path):
    cache = VariantCache(str(tmp_path), 'a' * 40, dict(type='X'))
    fill(cache, 3)
    data = open(cache.path(1, 0), 'rb').read()
    open(cache.path(1, 0), 'wb').write(data[:len(data) // 2])  # truncated
    flipped = bytearray(open(cache.path(2, 0), 'rb').read())
    flipped[-20] ^= 0xFF  # same size, other bytes
    open(cache.path(2, 0), 'wb').write(bytes(flipped))
    assert cache.verify([(0, 0), (1, 0), (2, 0), (3, 0)]) == [
        (1, 0), (2, 0), (3, 0)]
    assert not cache.has(1, 0) and cache.has(2, 0)  # has() checks size
    with pytest.raises(OSError, match='does not match the cache manifest'):
        cache.read(2, 0)


def test_folder_of_other_settings_is_refused(tmp_path):
    cache = VariantCache(str(tmp_path), 'a' * 40, dict(type='X', seed=0))
    meta = os.path.join(cache.dir, 'settings.json')
    record = json.load(open(meta))
    record['settings']['seed'] = 1  # e.g. copied from another run
    json.dump(record, open(meta, 'w'))
    with pytest.raises(ValueError, match='delete that folder, or point '
                       'cache_dir elsewhere'):
        VariantCache(str(tmp_path), 'a' * 40, dict(type='X', seed=0))
    with pytest.raises(ValueError, match='not a hex digest'):
        VariantCache(str(tmp_path), '../../etc', dict(type='X'))


def test_read_only_cache_is_one_clear_error(tmpfs):
    root = tmpfs('ro', read_only=True)
    with pytest.raises(OSError, match='set cache_dir to a writable folder'):
        check_writable(os.path.join(root, 'variants'))
    with pytest.raises(OSError, match='set cache_dir to a writable folder'):
        VariantCache(root, 'a' * 40, dict(type='X'))


def test_full_cache_keeps_whole_files_and_resumes_after_space_is_freed(
        tmpfs):
    root = tmpfs('small', size='64k')
    cache = VariantCache(root, 'a' * 40, dict(type='X'))
    with pytest.raises(OSError, match='free space or set cache_dir'):
        fill(cache, 40)
    written = [(i, 0) for i in range(40) if cache.has(i, 0)]
    assert 0 < len(written) < 40
    assert cache.verify(written) == []  # what was listed is whole
    assert not [f for _, _, fs in os.walk(root) for f in fs
                if f.startswith('.tmp')]  # nothing half-written
    tmpfs.remount(root, 'size=1m')
    fill(cache, 40)
    assert cache.verify([(i, 0) for i in range(40)]) == []
