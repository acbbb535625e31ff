import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmtada.datasets import Digits, TADADataset
from mmtada.engine import TADAState
from mmtada.engine.hooks import LearningLagHook
from mmtada.generators import BaseGenerator
from mmtada.registry import DATASETS, HOOKS
from mmtada.selection import LagStats, Selection


PACK_CFG = [dict(type='mmpretrain.PackInputs')]


def lag_hook(runner) -> LearningLagHook:
    return [h for h in runner.hooks if isinstance(h, LearningLagHook)][0]


def test_before_train_sets_up_and_validates(cls_cfg):
    runner = Runner.from_cfg(cls_cfg(max_epochs=20, select_epoch=None))
    hook = lag_hook(runner)
    hook.before_train(runner)
    assert hook.when.epoch == 1  # 5% of 20
    assert hook.state.stats.num_samples == 96 and hook.state.stats.num_classes == 10
    assert hook.tracker._recorder is not None  # recording on the training forward
    hook.tracker.stop()
    runner = Runner.from_cfg(cls_cfg(max_epochs=3, select_epoch=4))
    with pytest.raises(ValueError,
                       match=r'select_epoch=4 .* \[1, max_epochs\]'):
        lag_hook(runner).before_train(runner)
    runner = Runner.from_cfg(cls_cfg(max_epochs=10, select_epoch=0.25))
    lag_hook(runner).before_train(runner)
    assert lag_hook(runner).when.epoch == 3


def test_unwrapped_dataset_is_a_clear_error(cls_cfg):
    cfg = cls_cfg()
    cfg.train_dataloader.dataset = cfg.train_dataloader.dataset.dataset
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TypeError, match="type='mmtada.TADADataset'"):
        lag_hook(runner).before_train(runner)


def test_after_train_iter_records_the_training_forward(cls_cfg):
    runner = Runner.from_cfg(cls_cfg())
    hook = lag_hook(runner)
    hook.before_train(runner)
    model = runner.model
    batch = next(iter(runner.train_dataloader))
    data = model.data_preprocessor(batch, True)
    model.train()
    with torch.no_grad():
        model(**data, mode='loss')
        logits = model.head(model.extract_feat(data['inputs']))
    hook.after_train_iter(runner, 0, batch)
    hook.state.stats.end_epoch(1)
    meta = [s.metainfo for s in batch['data_samples']]
    labels = torch.cat([s.gt_label for s in batch['data_samples']])
    expected = F.cross_entropy(logits, labels, reduction='none')
    for m, e, lg, y in zip(meta, expected, logits, labels):
        if m['is_synthetic']:
            continue
        i = m['source_idx']
        seen = [k for k, mm in enumerate(meta)
                if mm['source_idx'] == i and not mm['is_synthetic']]
        if len(seen) == 1:
            assert hook.state.stats.loss[0, i] == pytest.approx(e.item(), rel=1e-4)
            assert hook.state.stats.correct[0, i] == float(lg.argmax() == y)
    assert torch.isnan(hook.state.stats.loss[0]).sum() == 96 - len(
        {m['source_idx'] for m in meta})
    assert hook.tracker._recorder._captured is None  # consumed


def test_wrong_class_count_is_a_clear_error(cls_cfg):
    cfg = cls_cfg()
    cfg.model.head.num_classes = 7
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match="num_classes"):
        lag_hook(runner).before_train(runner)


def test_selection_generation_and_serving(cls_cfg):
    runner = Runner.from_cfg(cls_cfg(max_epochs=3, select_epoch=2))
    runner.train()
    hook = lag_hook(runner)
    assert hook.state.stats.epochs == [1, 2]  # nothing recorded after selection
    path = osp.join(runner.work_dir, 'tada', 'selection.json')
    sel = json.load(open(path))
    assert sel['rule'] == 'loss_quantile' and sel['epoch'] == 2
    # 35% of each class, by loss
    assert sum(sel['per_class_counts'].values()) == len(sel['indices'])
    assert 0.3 < sel['fraction'] < 0.4
    assert sel['indices'] == sorted(sel['indices'])
    assert len(sel['scores']) == 96
    ds = runner.train_dataloader.dataset
    assert isinstance(ds, TADADataset)
    assert sorted(ds.variants) == [(i, v) for i in sel['indices']
                                   for v in range(2)]
    assert hook.state.generation['generated'] == 2 * len(sel['indices'])
    assert len(ds) == 96 + 48  # fixed capacity
    # ranked by the loss the hook recorded at the selection epoch
    scores = torch.tensor([float('nan') if s is None else s
                           for s in sel['scores']], dtype=torch.float64)
    assert torch.allclose(scores, hook.state.stats.loss[-1].double(), atol=1e-6,
                          equal_nan=True)


class ServedHook(Hook):
    """Records, per epoch, how many synthetic items the loader served."""

    def __init__(self):
        self.synthetic, self.variants = {}, {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        n = sum(bool(s.metainfo['is_synthetic'])
                for s in data_batch['data_samples'])
        self.synthetic[runner.epoch] = self.synthetic.get(runner.epoch, 0) + n
        self.variants.setdefault(runner.epoch, []).extend(
            (s.metainfo['source_idx'], s.metainfo['variant_idx'])
            for s in data_batch['data_samples'] if s.metainfo['is_synthetic'])


def test_persistent_workers_serve_the_variants(cls_cfg):
    cfg = cls_cfg(max_epochs=3, select_epoch=1, num_workers=2,
                  persistent_workers=True)
    runner = Runner.from_cfg(cfg)
    served = ServedHook()
    runner.register_hook(served, priority='LOW')
    runner.train()
    ds = runner.train_dataloader.dataset
    n_var = len(ds.variants)
    assert n_var > 0
    assert served.synthetic[0] == 0  # before selection: real data only
    # every slot serves a variant once the workers restarted
    assert served.synthetic[1] == 48 and served.synthetic[2] == 48
    # the persistent workers turn the slots each epoch: the next 48
    for e in (1, 2):
        turn = [ds.variants[(j + e * 48) % n_var] for j in range(48)]
        assert sorted(served.variants[e]) == sorted(turn)


def test_checkpoint_stages(cls_cfg):
    runner = Runner.from_cfg(cls_cfg(max_epochs=1, select_epoch=1))
    runner.train()
    hook = lag_hook(runner)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    state = checkpoint['tada']
    assert state['selection']['indices'] == hook.state.selection.indices
    assert state['signature'] == hook.signature()
    assert torch.equal(state['stats']['loss'], hook.state.stats.loss)
    other = HOOKS.build(dict(type='mmtada.LearningLagHook', select_epoch=1,
                             rule='loss_quantile', num_variants=2))
    runner._resume = False  # load_from (fine-tuning) brings no TADA state
    other.after_load_checkpoint(runner, checkpoint)
    assert other._resumed is None
    runner._resume = True
    other.after_load_checkpoint(runner, checkpoint)
    assert other._resumed is state


def test_resume_after_selection_restores_the_dataset(cls_cfg, tmp_path):
    runner = Runner.from_cfg(cls_cfg(max_epochs=2, select_epoch=1))
    runner.train()
    first = lag_hook(runner)
    variants = runner.train_dataloader.dataset.variants
    cost_path = osp.join(runner.work_dir, 'tada', 'generation.json')
    cost = json.load(open(cost_path))
    assert cost['generated'] == cost['total'] == len(variants)
    assert cost['selected'] == len(first.state.selection.indices)
    cfg = cls_cfg(max_epochs=3, select_epoch=1)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert json.load(open(cost_path)) == cost  # nothing more was made
    hook = lag_hook(runner)
    assert hook.state.selection.indices == first.state.selection.indices
    assert runner.train_dataloader.dataset.variants == variants
    assert hook.state.generation['generated'] == 0
    assert hook.state.generation['reused'] == len(variants)
    assert torch.equal(hook.state.stats.loss, first.state.stats.loss)
    ckpt = torch.load(osp.join(runner.work_dir, 'epoch_3.pth'),
                      weights_only=False)
    # the TADA state alone is weights_only-safe
    torch.save(ckpt['tada'], tmp_path / 'tada.pth')
    torch.load(tmp_path / 'tada.pth', weights_only=True)


def test_resume_with_other_settings_is_refused(cls_cfg):
    # The checkpoint's TADA state, as a run with num_variants=2 saved it.
    runner = Runner.from_cfg(cls_cfg(max_epochs=3, select_epoch=1,
                                     num_variants=3))
    hook = lag_hook(runner)
    saved = HOOKS.build(dict(type='mmtada.LearningLagHook', select_epoch=1,
                             rule='loss_quantile', num_variants=2))
    saved.when.resolve(3)
    saved.state = TADAState(saved.signature(), LagStats(96, 10))
    checkpoint = {}
    saved.before_save_checkpoint(runner, checkpoint)
    runner._resume = True
    hook.after_load_checkpoint(runner, checkpoint)
    with pytest.raises(ValueError, match=r"differ from the checkpoint's in "
                       r"\['num_variants'\]"):
        hook.before_train(runner)


def test_shared_cache_dir_is_reused_by_a_later_run(cls_cfg, tmp_path):
    cache = str(tmp_path / 'shared_cache')
    first = Runner.from_cfg(cls_cfg(max_epochs=1, select_epoch=1,
                                    cache_dir=cache,
                                    work_dir=tmp_path / 'a'))
    first.train()
    made = lag_hook(first).state.generation['generated']
    assert made > 0
    second = Runner.from_cfg(cls_cfg(max_epochs=1, select_epoch=1,
                                     cache_dir=cache,
                                     work_dir=tmp_path / 'b'))
    second.train()
    # same seed, same data, same selection: every variant is found
    assert lag_hook(second).state.selection.indices == \
        lag_hook(first).state.selection.indices
    assert lag_hook(second).state.generation == dict(
        lag_hook(second).state.generation, generated=0, reused=made)


def test_probe_records_when_batch_augments_hide_labels(cls_cfg):
    cfg = cls_cfg(max_epochs=1, select_epoch=1)
    cfg.model.data_preprocessor.batch_augments = dict(
        augments=dict(type='Mixup', alpha=0.2))
    cfg.model.head.loss = dict(type='CrossEntropyLoss', use_soft=True)
    cfg.val_dataloader.dataset.pipeline = [
        dict(type='mmpretrain.PackInputs')]
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = lag_hook(runner)
    assert hook.tracker._recorder is None and hook.tracker._probe is not None
    assert not torch.isnan(hook.state.stats.loss[-1]).any()  # every sample probed
    assert hook.state.selection is not None and hook.state.selection.indices


def test_generator_is_checked_early_and_not_kept(cls_cfg):
    with pytest.raises(KeyError, match='unknown generator'):
        LearningLagHook(generator=dict(type='mmtada.Upsampel'))
    runner = Runner.from_cfg(cls_cfg(max_epochs=1, select_epoch=1))
    runner.train()
    hook = lag_hook(runner)
    assert hook.state.generation['generated'] > 0
    assert not any(isinstance(v, BaseGenerator) for v in vars(hook).values())


def test_registered_under_mmtada_scope():
    assert HOOKS.get('LearningLagHook') is LearningLagHook


def test_visualizer_gets_the_histogram_and_the_hard_examples(cls_cfg):
    runner = Runner.from_cfg(cls_cfg(max_epochs=2, select_epoch=1))
    runner.train()
    folder = osp.join(runner.log_dir, 'vis_data', 'vis_image')
    hist = cv2.imread(osp.join(folder, 'tada_score_histogram_1.png'))
    grid = cv2.imread(osp.join(folder, 'tada_hard_examples_1.png'))
    assert hist is not None and hist.shape[:2] == (300, 500)
    rows = min(8, len(lag_hook(runner).state.selection.indices))
    assert grid is not None
    assert grid.shape[:2] == (14 + rows * 66 + 2, 3 * 66 + 2)  # k = 2


@pytest.mark.parametrize('rule,expected', [
    (dict(type='random', num=0), 0), (dict(type='all'), 96)])
def test_selection_of_nothing_or_everything(cls_cfg, rule, expected):
    runner = Runner.from_cfg(cls_cfg(max_epochs=2, select_epoch=1,
                                     rule=rule))
    runner.train()  # completes either way
    hook, ds = lag_hook(runner), runner.train_dataloader.dataset
    assert len(hook.state.selection.indices) == expected
    assert len(ds.variants) == 2 * expected
    assert hook.state.generation['total'] == 2 * expected
    assert len(ds) == 96 + 48  # the slots serve the real data if nothing


def test_read_only_cache_dir_fails_before_training(cls_cfg, tmpfs):
    runner = Runner.from_cfg(cls_cfg(
        cache_dir=osp.join(tmpfs('ro', read_only=True), 'variants')))
    with pytest.raises(OSError, match='set cache_dir to a writable folder'):
        runner.train()
    assert runner.iter == 0  # no training time lost


def test_selection_file_of_another_dataset_is_refused(cls_cfg, tmp_path):
    # A selection made on the first 96 digits, applied to the first 80.
    made_on = TADADataset(dict(type='mmtada.Digits', split='train',
                               indices=96, pipeline=[]), num_slots=0)
    path = str(tmp_path / 'selection.json')
    Selection(rule='loss_quantile', epoch=1, indices=[3, 90], num_samples=96,
              per_class_counts={}, per_class_totals={}, scores=[0.0] * 96,
              dataset=made_on.reader.fingerprint()).dump(path)
    runner = Runner.from_cfg(cls_cfg(num_samples=80, num_slots=40,
                                     selection=path))
    with pytest.raises(ValueError, match='made on another dataset'):
        lag_hook(runner).before_train(runner)


def test_restart_mode_outside_apis_train_names_the_command(cls_cfg):
    with pytest.raises(ValueError, match='python tools/train.py CONFIG'):
        LearningLagHook(mode='restart')
    with pytest.raises(ValueError, match="mode must be 'in_run' or"):
        LearningLagHook(mode='twice')


def test_checkpoint_state_loads_with_weights_only(cls_cfg, tmp_path,
                                                  pixel_weights):
    # The TADA entry of a checkpoint is tensors and plain containers only.
    runner = Runner.from_cfg(cls_cfg(
        max_epochs=1, select_epoch=1, generator=dict(
            type='mmtada.PixelSDEdit', weights=pixel_weights,
            num_inference_steps=2)))
    runner.train()
    checkpoint = torch.load(osp.join(runner.work_dir, 'epoch_1.pth'),
                            weights_only=False)
    torch.save(checkpoint['tada'], tmp_path / 'tada.pth')
    state = torch.load(tmp_path / 'tada.pth', weights_only=True)
    assert state['selection']['indices'] == lag_hook(runner).state.selection.indices


def test_same_seed_same_selection_and_same_variants(cls_cfg, tmp_path,
                                                    pixel_weights):
    def run(name):
        runner = Runner.from_cfg(cls_cfg(
            max_epochs=2, select_epoch=1, rule='kmeans',
            work_dir=tmp_path / name, generator=dict(
                type='mmtada.PixelSDEdit', weights=pixel_weights,
                strength=0.6, num_inference_steps=4)))
        runner.train()
        cache = runner.train_dataloader.dataset._cache
        listed = cache.listed()
        return (open(osp.join(runner.work_dir, 'tada', 'selection.json'))
                .read(), {k: sorted(v) for k, v in listed.items()})

    (sel_a, variants_a), (sel_b, variants_b) = run('a'), run('b')
    assert sel_a == sel_b and len(variants_a) > 0
    assert variants_a == variants_b  # byte-identical files (sha256)


def test_class_balancing_above_the_wrapper_is_refused_in_add_mode(cls_cfg):
    cfg = cls_cfg()
    cfg.train_dataloader.dataset = dict(
        type='ClassBalancedDataset', oversample_thr=0.5,
        dataset=cfg.train_dataloader.dataset)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match="ClassBalancedDataset balances "
                       "classes.*set mode='replace'"):
        lag_hook(runner).before_train(runner)
    cfg.train_dataloader.dataset.dataset.mode = 'replace'
    runner = Runner.from_cfg(cfg)
    lag_hook(runner).before_train(runner)  # the sources stay fixed: fine


def test_a_diverged_training_is_not_selected_from(cls_cfg):
    runner = Runner.from_cfg(cls_cfg(max_epochs=2, select_epoch=1))
    hook = lag_hook(runner)
    hook.before_train(runner)
    hook.tracker.stop()
    hook.state.stats.update(torch.arange(4), torch.randn(4, 10).log_softmax(1),
                      torch.zeros(4, dtype=torch.long))
    with torch.no_grad():
        next(runner.model.parameters()).fill_(float('nan'))
    hook.state.stats.end_epoch(1)
    with pytest.raises(RuntimeError, match=r'diverged before select_epoch=1'
                       r' \(model weights not finite\).*clip gradients'):
        hook._select(runner, 1)
    assert not osp.exists(osp.join(runner.work_dir, 'tada',
                                   'selection.json'))
    # and a non-finite output recorded on the training forward says so
    hook.state.stats.update(torch.arange(2), torch.full((2, 10), float('nan')),
                      torch.zeros(2, dtype=torch.long))
    hook.state.stats.end_epoch(1)
    assert hook.state.stats.nonfinite[-1] == 2


def test_auto_epoch_selects_where_the_error_slows_and_resume_keeps_it(
        cls_cfg):
    import numpy as np

    from mmtada.selection.auto_epoch import decide
    from mmtada.utils import RunLayout
    hook_args = dict(select_epoch='auto', auto_range=(0.1, 0.5),
                     rule='kmeans', exclude='aum', aum_quantile=0.5)
    runner = Runner.from_cfg(cls_cfg(max_epochs=6, **hook_args))
    runner.train()
    hook = lag_hook(runner)
    sel = hook.state.selection
    curve = sel.auto['curve']
    assert sel.auto['range'] == [1, 3] and len(curve) == sel.epoch
    # the first epoch at which the documented rule says 'select'
    first = next(t for t in range(1, 4) if decide(
        curve[:t], 0.9, 1, 3, 0.5))
    assert sel.epoch == first and hook.state.stats.epochs == list(range(1, first
                                                                  + 1))
    assert sel.auto['reason'] == decide(curve, 0.9, 1, 3, 0.5)
    assert sel.excluded['guard'] == 'aum'
    assert sel.excluded['removed'] <= sel.excluded['flagged']
    traj = np.load(RunLayout(runner.work_dir).trajectories)
    assert traj['loss'].shape == (first, 96)
    assert traj['selected'].sum() == len(sel.indices)
    assert not (traj['selected'] & traj['flagged']).any()
    cfg = cls_cfg(max_epochs=7, **hook_args)
    cfg.resume = True
    again = Runner.from_cfg(cfg)
    again.train()
    resumed = lag_hook(again).state.selection
    assert (resumed.epoch, resumed.auto, resumed.excluded, resumed.indices) \
        == (sel.epoch, sel.auto, sel.excluded, sel.indices)


@DATASETS.register_module(name='FlippedDigits', force=True)
class FlippedDigits(Digits):
    """The digits with ``fraction`` of the first ``num`` labels flipped to
    another class (seeded): planted label noise."""

    def __init__(self, num=400, fraction=0.1, **kw):
        self.num, self.fraction = num, fraction
        super().__init__(indices=num, **kw)

    def load_data_list(self):
        infos = super().load_data_list()
        rng = np.random.RandomState(0)
        self.flipped = set(rng.choice(self.num, int(self.fraction * self.num),
                                      replace=False).tolist())
        for i in self.flipped:
            infos[i]['gt_label'] = int(
                (infos[i]['gt_label'] + rng.randint(1, 10)) % 10)
        return infos


def test_the_guard_keeps_planted_label_flips_below_their_base_rate(
        cls_cfg, one_thread):
    shares = {}
    for exclude in (None, 'aum'):
        cfg = cls_cfg(num_samples=400, num_slots=0, max_epochs=3,
                      select_epoch=3, rule='kmeans', exclude=exclude,
                      aum_quantile=0.7, stop_after_selection=True)
        cfg.train_dataloader.dataset.dataset = dict(
            type='mmtada.FlippedDigits', split='train', pipeline=PACK_CFG)
        runner = Runner.from_cfg(cfg)
        runner.train()
        flipped = runner.train_dataloader.dataset.dataset.flipped
        chosen = set(lag_hook(runner).state.selection.indices)
        shares[exclude] = len(chosen & flipped) / len(chosen)
    assert shares[None] > 0.1 >= shares['aum']  # 40 of the 400 flipped
