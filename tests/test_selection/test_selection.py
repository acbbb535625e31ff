import json

import pytest

from mmtada.selection import Selection


def make():
    return Selection(rule='kmeans', epoch=2, indices=[1, 3], num_samples=4,
                     per_class_counts={'a': 2}, per_class_totals={'a': 4},
                     scores=[0.1, float('nan'), 0.3, 0.4], dataset='abc')


def test_dump_load_round_trip(tmp_path):
    path = tmp_path / 'tada' / 'selection.json'
    make().dump(str(path))
    raw = json.loads(path.read_text())
    assert raw['fraction'] == 0.5 and raw['scores'][1] is None
    back = Selection.load(str(path))
    assert back.indices == [1, 3] and back.dataset == 'abc'
    assert back.scores[1] != back.scores[1]  # NaN survives
    assert [p.name for p in path.parent.iterdir()] == ['selection.json']


def test_load_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match='selection phase'):
        Selection.load(str(tmp_path / 'missing.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"rule": 1}')
    with pytest.raises(ValueError, match='not a TADA selection'):
        Selection.load(str(bad))


def test_mask_broadcast_and_log(monkeypatch):
    logged = []
    monkeypatch.setattr('mmtada.selection.selection.print_log',
                        lambda msg, **kw: logged.append(msg))
    sel = make()
    assert sel.mask().tolist() == [False, True, False, True]
    shared = Selection.broadcast(sel)  # one process: rank 0's, as a copy
    assert shared is not sel and shared.indices == [1, 3]
    assert shared.scores[1] != shared.scores[1]
    sel.auto = dict(reason='knee', curve=[0.7, 0.5], range=[1, 3])
    sel.indices = [0, 1, 2, 3]
    sel.log()
    out = '\n'.join(logged)
    assert 'training error by epoch 0.700 0.500; selecting after epoch 2 ' \
        '(knee)' in out
    assert 'TADA selection (kmeans, epoch 2 (auto: knee)): 4/4' in out
    assert 'is not targeted: it selected 100% of the samples' in out
