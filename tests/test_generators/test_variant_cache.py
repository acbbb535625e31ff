import json
import os

import numpy as np
import pytest

from mmtada.generators import VariantCache, settings_key


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
