"""mmtada/utils/storage.py: whole files on a local disk or an object store
(mmengine file backends). The store here is
:mod:`mmtada.testing.object_store`: get/put/exists/remove/list only, no
rename, no append, no local paths, as S3-like stores. The variant cache,
the selection and the shared-folder check go through it; a run with its
cache in the store: tests/test_utils/test_shared_folder.py."""
import os
import pickle

import numpy as np
import pytest

import mmtada.testing.object_store  # noqa: F401  (registers objstore://)
from mmtada.generators import VariantCache
from mmtada.selection import Selection
from mmtada.utils.storage import Storage


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The object store's folder (what only the store itself touches)."""
    root = tmp_path / 'store'
    monkeypatch.setenv('MMTADA_OBJECT_STORE', str(root))
    return root


def store_keys(root):
    """Every object in the store, as keys."""
    return sorted(
        os.path.relpath(os.path.join(d, f), root).replace(os.sep, '/')
        for d, _, files in os.walk(root) for f in files
        if not os.path.relpath(d, root).startswith('.staging'))


@pytest.mark.parametrize('where', ['local', 'objstore'])
def test_whole_files_round_trip(tmp_path, store, where):
    root = str(tmp_path / 'disk') if where == 'local' \
        else 'objstore://bucket/run'
    storage = Storage(root)
    assert storage.local == (where == 'local')
    path = storage.join(root, 'a', 'b.bin')
    assert storage.size(path) is None and not storage.exists(path)
    with pytest.raises(FileNotFoundError):
        storage.get(path)
    storage.put(path, b'one')
    storage.put(path, b'two!')  # replaced whole
    assert storage.get(path) == b'two!'
    assert storage.size(path) == (4 if where == 'local' else -1)
    storage.put(storage.join(root, 'a', 'c.txt'), b'')
    assert storage.list(storage.join(root, 'a')) == ['b.bin', 'c.txt']
    assert storage.list(storage.join(root, 'a'), '.bin') == ['b.bin']
    assert storage.list(storage.join(root, 'missing')) == []
    storage.remove(path)
    storage.remove(path)  # already gone: nothing to do
    assert storage.list(storage.join(root, 'a')) == ['c.txt']
    copy = pickle.loads(pickle.dumps(storage))
    assert copy._backend is None
    assert copy.get(storage.join(root, 'a', 'c.txt')) == b''
    if where == 'objstore':
        assert store_keys(store) == ['bucket/run/a/c.txt']


def test_the_store_refuses_what_stores_cannot_do(store):
    backend = Storage('objstore://bucket').backend
    with pytest.raises(NotImplementedError):
        backend.get_local_path('objstore://bucket/x')
    assert not hasattr(backend, 'rename')


def image(seed):
    return np.random.default_rng(seed).integers(0, 256, (8, 8, 3), np.uint8)


def test_variant_cache_in_the_store(store):
    """Two processes' caches on one store folder: what one writes, the
    other lists after its flush (a manifest piece written whole, never
    appended to); a replaced object is caught; nothing but settings,
    variants and pieces is ever in the store."""
    settings = dict(generator=dict(type='x'), seed=0)
    one = VariantCache('objstore://bucket/cache', 'ab' * 6, settings)
    two = VariantCache('objstore://bucket/cache', 'ab' * 6, settings)
    assert one.dir == two.dir and one.dir.startswith('objstore://bucket/')
    one.write(3, 0, image(0))
    one.write(3, 1, image(1))
    assert one.has(3, 0) and (one.read(3, 1) == image(1)).all()
    assert not two.has(3, 0)  # written, not yet listed for others
    assert two.verify([(3, 0), (3, 1)]) == [(3, 0), (3, 1)]
    one.flush()
    one.flush()  # nothing pending: no empty piece
    assert two.has(3, 0) and (two.read(3, 0) == image(0)).all()
    assert two.verify([(3, 0), (3, 1), (4, 0)]) == [(4, 0)]
    two.write(4, 0, image(2))
    two.flush()
    assert one.listed().keys() == {(3, 0), (3, 1), (4, 0)}
    # another object under a listed name: refused, made again
    two.storage.put(two.path(3, 1), one.codec.encode(image(9)))
    assert one.verify([(3, 1)]) == [(3, 1)]
    with pytest.raises(OSError, match='does not match the cache manifest'):
        one.read(3, 1)
    keys = store_keys(store)
    folder = one.dir[len('objstore://'):]
    pieces = [k for k in keys if k.startswith(folder + '/manifest/')]
    assert len(pieces) == 2 and all(k.endswith('.jsonl') for k in pieces)
    assert sorted(set(keys) - set(pieces)) == sorted(
        [f'{folder}/settings.json'] + [
            f'{folder}/00000/{s}_{v}.png' for s, v in [(3, 0), (3, 1),
                                                       (4, 0)]])
    # a cache copied to a worker reads through its own client
    worker = pickle.loads(pickle.dumps(one))
    assert (worker.read(4, 0) == image(2)).all()


def test_a_cache_for_other_settings_is_refused_in_the_store(store):
    VariantCache('objstore://b/c', 'ab' * 6, dict(seed=0))
    cache = VariantCache('objstore://b/c', 'ab' * 6, dict(seed=1))
    settings = cache.storage.join(cache.dir, 'settings.json')
    cache.storage.put(settings, b'{"dataset": "ab", "settings": {}}')
    with pytest.raises(ValueError, match='delete that folder'):
        VariantCache('objstore://b/c', 'ab' * 6, dict(seed=1))


def test_selection_through_the_store(store):
    selection = Selection(rule='kmeans', epoch=2, indices=[1, 5],
                          num_samples=8, per_class_counts={'a': 2},
                          per_class_totals={'a': 8}, scores=[0.1] * 8,
                          dataset='ab' * 6)
    selection.dump('objstore://bucket/sel/selection.json')
    back = Selection.load('objstore://bucket/sel/selection.json')
    assert back.indices == [1, 5] and back.epoch == 2
    with pytest.raises(FileNotFoundError, match='run the selection phase'):
        Selection.load('objstore://bucket/sel/none.json')
