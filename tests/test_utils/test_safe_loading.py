"""Checkpoints load with ``weights_only=True`` (mmtada/utils/safe_loading.py).

Real checkpoints, saved by real runners in a few seconds: a stock
mmpretrain classifier and a stock mmdet detector (best checkpoints
included), and mmtada's own (``checkpoint['tada']``). A crafted checkpoint
whose unpickling would write a file is refused through ``--resume``,
``load_from`` and the variant filter's ``checkpoint=``, and the file is
not written."""
import os
import os.path as osp
import pickle

import pytest
import torch
from conftest import tiny_cls_cfg, tiny_det_cfg
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader

from mmtada.apis import train, without_tada
from mmtada.registry import VARIANT_FILTERS
from mmtada.utils import UntrustedCheckpointError, safe_loading


class WritesAFile:
    """Unpickled, it creates ``path`` (``open(path, 'w')``)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


class RunsAShell(WritesAFile):
    """Unpickled, it runs ``touch path`` (``os.system``)."""

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


class CallsABufferMethod(WritesAFile):
    """``getattr(HistoryBuffer, '__init__')``: a getattr that is not one of
    the statistics methods mmengine pickles."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def save_with_val(cfg, scope):
    """Train ``cfg`` one epoch with validation and ``save_best``: the
    checkpoints a user's run writes."""
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                        save_best='auto')
    with DefaultScope.overwrite_default_scope(scope):
        Runner.from_cfg(cfg).train()
    return cfg.work_dir


@pytest.fixture(scope='module')
def saved(tmp_path_factory, digit_canvases):
    """{name: work dir} of four runs of one epoch each (about 10 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('saved')
    out = {}
    cls = without_tada(tiny_cls_cfg(root / 'mmpretrain', num_samples=32))
    cls.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=True, end=1),
        dict(type='MultiStepLR', milestones=[1], by_epoch=True)]
    out['mmpretrain'] = save_with_val(cls, 'mmpretrain')
    det = without_tada(tiny_det_cfg(root / 'mmdet', digit_canvases,
                                    detector='retinanet', max_epochs=1))
    det.train_dataloader.dataset.indices = 8
    det.val_dataloader.dataset.indices = 4
    det.model.test_cfg.score_thr = 0.0
    det.param_scheduler = [
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, end=2),
        dict(type='MultiStepLR', milestones=[1], by_epoch=True)]
    out['mmdet'] = save_with_val(det, 'mmdet')
    tada = tiny_cls_cfg(root / 'tada_cls', num_samples=32, num_slots=16,
                        max_epochs=1, select_epoch=1)
    train(tada)
    out['tada_cls'] = tada.work_dir
    tada_det = tiny_det_cfg(root / 'tada_det', digit_canvases,
                            detector='retinanet', max_epochs=1,
                            select_epoch=1)
    tada_det.train_dataloader.dataset.dataset.indices = 8
    tada_det.val_dataloader.dataset.indices = 4
    train(tada_det)
    out['tada_det'] = tada_det.work_dir
    torch.set_num_threads(threads)
    return out


def checkpoints(work_dir):
    return sorted(osp.join(work_dir, f) for f in os.listdir(work_dir)
                  if f.endswith('.pth'))


def allowed_names():
    names = set()
    for g in safe_loading.checkpoint_globals():
        if isinstance(g, tuple):
            names.add(g[1])
        else:
            names.add(f'{g.__module__}.{g.__qualname__}')
    return names


@pytest.fixture
def crafted(saved, tmp_path):
    """``(path, marker)``: a real mmpretrain checkpoint with one more
    object in its meta, whose unpickling would create ``marker``."""

    def make(payload=WritesAFile, legacy=False, name='crafted.pth'):
        marker = tmp_path / f'written_by_{name}'
        ckpt = torch.load(osp.join(saved['mmpretrain'], 'epoch_1.pth'),
                          weights_only=False)
        ckpt['meta']['note'] = payload(marker)
        path = str(tmp_path / name)
        torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
        return path, marker

    return make


# -- what loads -------------------------------------------------------------
def test_the_allow_list_is_what_real_checkpoints_hold(saved):
    """Each checkpoint needs globals beyond torch's (mmengine's message
    hub), all of them on the allow-list; the allow-list holds nothing that
    no checkpoint needs (the numpy 1 aliases and dtype classes aside: a
    dtype's class is not a GLOBAL of the pickle)."""
    names = allowed_names()
    needed = set()
    for work_dir in saved.values():
        for path in checkpoints(work_dir):
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
                path)
            assert set(unsafe) <= names, (path, set(unsafe) - names)
            needed |= set(unsafe)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in needed
    numpy1 = {n for n in names if n.startswith('numpy.core.')}
    dtype_classes = {n for n in names if n.startswith('numpy.dtypes.')}
    assert needed == names - numpy1 - dtype_classes


def test_real_checkpoints_load_with_weights_only(saved):
    before = set(torch.serialization.get_safe_globals())
    paths = [p for d in saved.values() for p in checkpoints(d)]
    # epoch_1 of each run, best of the stock ones
    assert len(paths) == 6 and sum('best' in p for p in paths) == 2
    for path in paths:
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
        assert {'meta', 'state_dict', 'message_hub'} <= set(ckpt)
        if '/tada_' in path:
            assert ckpt['tada']['selection'] is not None
        with pytest.raises(pickle.UnpicklingError):  # torch alone refuses
            torch.load(path, weights_only=True)
    # the allow-list held for the loads only
    assert set(torch.serialization.get_safe_globals()) == before


def test_real_runners_resume_and_load_them(saved):
    # --resume (auto) of mmtada's own classification run, through
    # mmtada.apis.train as tools/train.py calls it
    cfg = tiny_cls_cfg(saved['tada_cls'], num_samples=32, num_slots=16,
                       max_epochs=1, select_epoch=1)
    cfg.resume = True
    assert train(cfg).train_loop.epoch == 1
    # --resume PATH of a stock mmdet run
    det = without_tada(tiny_det_cfg(saved['mmdet'], 'unused',
                                    detector='retinanet', max_epochs=1))
    det.train_dataloader = det.train_cfg = det.optim_wrapper = None
    det.param_scheduler = None
    det.val_dataloader = det.val_cfg = det.val_evaluator = None
    det.test_dataloader = det.test_cfg = det.test_evaluator = None
    det.load_from = osp.join(saved['mmdet'], 'epoch_1.pth')
    with DefaultScope.overwrite_default_scope('mmdet'):
        runner = Runner.from_cfg(det)
        runner.load_or_resume()  # load_from, as tools/test.py uses it
    # the variant filter's judge: a stock mmpretrain checkpoint
    stock = without_tada(tiny_cls_cfg(saved['mmpretrain'], num_samples=32))
    best = [p for p in checkpoints(saved['mmpretrain']) if 'best' in p]
    judge = VARIANT_FILTERS.build(
        dict(type='LabelAgreement', checkpoint=best[0])).bind(stock)
    assert judge.scorer is not None


# -- what is refused ---------------------------------------------------------
def test_a_crafted_checkpoint_is_refused_through_resume(crafted, tmp_path):
    path, marker = crafted()
    # --resume (auto): the work dir's latest checkpoint is the crafted one
    work = tmp_path / 'work'
    work.mkdir()
    os.replace(path, work / 'epoch_1.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    cfg = tiny_cls_cfg(work, num_samples=32, num_slots=16, max_epochs=1,
                       select_epoch=1)
    cfg.resume = True
    with pytest.raises(UntrustedCheckpointError, match='io.open'):
        train(cfg)
    # --resume PATH
    cfg = tiny_cls_cfg(tmp_path / 'other', num_samples=32, num_slots=16,
                       max_epochs=1, select_epoch=1)
    cfg.resume, cfg.load_from = True, str(work / 'epoch_1.pth')
    with pytest.raises(UntrustedCheckpointError, match='io.open'):
        train(cfg)
    assert not marker.exists()


def test_a_crafted_checkpoint_is_refused_through_load_from(crafted,
                                                           tmp_path):
    path, marker = crafted(RunsAShell)
    cfg = tiny_cls_cfg(tmp_path / 'work', num_samples=32, num_slots=16,
                       max_epochs=1, select_epoch=1)
    cfg.load_from = path
    with pytest.raises(UntrustedCheckpointError, match='posix.system'):
        train(cfg)
    assert not marker.exists()


def test_a_crafted_checkpoint_is_refused_as_the_filter_judge(crafted,
                                                             tmp_path):
    path, marker = crafted()
    cfg = without_tada(tiny_cls_cfg(tmp_path / 'work', num_samples=32))
    judge = VARIANT_FILTERS.build(dict(type='LabelAgreement',
                                       checkpoint=path))
    with pytest.raises(UntrustedCheckpointError, match='io.open'):
        judge.bind(cfg)
    assert not marker.exists()


@pytest.mark.parametrize('payload,legacy,name', [
    (WritesAFile, True, 'io.open'),  # torch's legacy (non-zip) format
    (CallsABufferMethod, False,
     'mmengine.logging.history_buffer.HistoryBuffer.__init__'),
])
def test_the_refusal_names_the_global_and_the_opt_in(crafted, payload,
                                                     legacy, name):
    path, marker = crafted(payload, legacy)
    with pytest.raises(UntrustedCheckpointError) as e:
        CheckpointLoader.load_checkpoint(path)
    real = osp.realpath(path)
    message = str(e.value)
    assert f'holds {name},' in message
    assert f'MMTADA_TRUSTED_CHECKPOINTS={real}' in message
    assert f"mmtada.utils.trust_checkpoint('{real}')" in message
    assert e.value.__cause__ is None and e.value.__suppress_context__
    assert not marker.exists()


def test_the_opt_in_trusts_the_files_named_and_only_them(crafted,
                                                         monkeypatch):
    monkeypatch.setattr(safe_loading, '_trusted', set())
    path, marker = crafted()
    other, other_marker = crafted(name='other.pth')
    # another file named: still refused
    monkeypatch.setenv('MMTADA_TRUSTED_CHECKPOINTS', other)
    with pytest.raises(UntrustedCheckpointError):
        CheckpointLoader.load_checkpoint(path)
    assert not marker.exists()
    # named (in another spelling of its path), among others: loaded fully,
    # and its code runs
    spelled = osp.join(osp.dirname(path), '.', osp.basename(path))
    monkeypatch.setenv('MMTADA_TRUSTED_CHECKPOINTS',
                       os.pathsep.join(['/nonexistent.pth', spelled]))
    CheckpointLoader.load_checkpoint(path)
    assert marker.exists()
    # the same in Python, per file
    monkeypatch.delenv('MMTADA_TRUSTED_CHECKPOINTS')
    with pytest.raises(UntrustedCheckpointError):
        CheckpointLoader.load_checkpoint(other)
    safe_loading.trust_checkpoint(other)
    CheckpointLoader.load_checkpoint(other)
    assert other_marker.exists()
