import json
import os
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.config import Config
from mmpretrain.datasets import CIFAR10
from mmpretrain.registry import DATASETS

from mmtada.apis import selection_path, train
from mmtada.datasets import Digits
from mmtada.engine.hooks import LearningLagHook
from mmtada.utils.run_scalars import read_scalars

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def lag_hook(runner):
    return [h for h in runner.hooks if isinstance(h, LearningLagHook)][0]


def test_in_run_mode_is_one_ordinary_run(cls_cfg):
    runner = train(cls_cfg(max_epochs=2, select_epoch=1))
    assert runner.epoch == 2
    assert lag_hook(runner).state.selection.epoch == 1
    assert not osp.exists(selection_path(runner.work_dir))


def test_restart_mode_selects_then_retrains_from_scratch(cls_cfg):
    cfg = cls_cfg(max_epochs=3, select_epoch=1, mode='restart')
    runner = train(cfg)
    work = cfg.work_dir
    sel_file = selection_path(work)
    assert osp.exists(sel_file)
    # the selection run stopped after select_epoch, on the real data alone
    assert sorted(os.listdir(osp.join(work, 'select'))).count(
        'epoch_1.pth') == 1
    assert not osp.exists(osp.join(work, 'select', 'epoch_2.pth'))
    # the second run trained the full schedule with the selection applied
    assert runner.epoch == 3 and runner.work_dir == work
    hook = lag_hook(runner)
    selected = json.load(open(sel_file))['indices']
    assert hook.state.selection.indices == selected
    assert sorted(runner.train_dataloader.dataset.variants) == [
        (i, v) for i in selected for v in range(2)]
    assert hook.state.stats.num_epochs == 0  # nothing recorded in the second run
    # rerun: both runs are found done, nothing is selected or made again
    cfg.resume = True
    again = train(cfg)
    assert lag_hook(again).state.generation['generated'] == 0


def test_restart_mode_for_detection_wraps_and_selects_images(det_cfg):
    cfg = det_cfg(detector='retinanet', max_epochs=2, select_epoch=1,
                  mode='restart', min_instances=2)
    runner = train(cfg)
    work = cfg.work_dir
    sel = json.load(open(selection_path(work)))
    assert sel['instances'] and sel['indices']
    assert not osp.exists(osp.join(work, 'select', 'epoch_2.pth'))
    assert runner.epoch == 2
    variants = runner.train_dataloader.dataset.variants
    assert sorted({s for s, _ in variants}) == sel['indices']
    # mmdet names its visualizer 'visualizer': the second run's scalars
    # (its epoch 2 and its validation) land in its own work dir all the same
    ours = read_scalars(work)
    assert any(r.get('epoch') == 2 for r in ours)
    assert ours[-1] == {**ours[-1], 'step': 2}  # the validation's record
    assert not any(r.get('epoch') == 2 or r.get('step') == 2
                   for r in read_scalars(osp.join(work, 'select')))


class UncheckedCIFAR10(CIFAR10):
    """mmpretrain's CIFAR-10 loader, without the MD5 check of the official
    archive (the test writes its own files in the same format)."""

    def _check_integrity(self):
        return True


def write_cifar10(root, n_train=160, n_test=80):
    """Real images (the digits, 32x32 RGB) in CIFAR-10's pickle format."""
    folder = osp.join(root, 'cifar-10-batches-py')
    os.makedirs(folder)
    train, test = Digits(split='train', size=32), Digits(split='test', size=32)

    def batch(ds, n):
        imgs = np.stack([ds.get_data_info(i)['img'] for i in range(n)])
        return {'data': imgs.transpose(0, 3, 1, 2).reshape(n, -1),
                'labels': [int(x) for x in ds.get_gt_labels()[:n]]}

    per = n_train // 5
    for k in range(5):
        part = batch(train, n_train)
        part = {'data': part['data'][k * per:(k + 1) * per],
                'labels': part['labels'][k * per:(k + 1) * per]}
        with open(osp.join(folder, f'data_batch_{k + 1}'), 'wb') as f:
            pickle.dump(part, f)
    with open(osp.join(folder, 'test_batch'), 'wb') as f:
        pickle.dump(batch(test, n_test), f)
    with open(osp.join(folder, 'batches.meta'), 'wb') as f:
        pickle.dump({'label_names': list(CIFAR10.METAINFO['classes'])}, f)


def test_cifar10_config_runs_on_cifar_files(tmp_path, latent_weights):
    """configs/tada_resnet18_cifar10.py (mmpretrain's ResNet-18 recipe)
    on files in CIFAR-10's format, read by mmpretrain's CIFAR loader,
    with the fragment's generator (Stable Diffusion image-to-image) on a
    tiny random Stable Diffusion folder."""
    DATASETS.register_module(module=UncheckedCIFAR10, force=True)
    write_cifar10(str(tmp_path / 'cifar10'))
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'tada_resnet18_cifar10.py'))
    for loader in (cfg.train_dataloader.dataset, cfg.val_dataloader):
        ds = loader.dataset if 'dataset' in loader else loader
        ds.type = 'UncheckedCIFAR10'
        ds.data_root = str(tmp_path / 'cifar10')
        ds.download = False
    cfg.train_dataloader.num_workers = 0
    cfg.val_dataloader.num_workers = 0
    # the recipe's ResNet-18 at a quarter of its width (16x fewer FLOPs)
    cfg.model.backbone.update(stem_channels=16, base_channels=16)
    cfg.model.head.in_channels = 128
    cfg.train_cfg.max_epochs = 2
    cfg.custom_hooks[0].select_epoch = 1
    assert cfg.custom_hooks[0].generator.type == 'mmtada.LatentSDEdit'
    cfg.custom_hooks[0].generator.update(weights=latent_weights,
                                         num_inference_steps=10)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.logger.interval = 1000
    runner = train(cfg)
    hook = lag_hook(runner)
    assert hook.state.stats.num_samples == 160
    assert 0 < len(hook.state.selection.indices) < 160
    ds = runner.train_dataloader.dataset
    assert len(ds) == 160 + round(2.5 * 160)  # the fragment: 0.5 x k=5
    assert ds.variants[0][0] == hook.state.selection.indices[0]
    metrics = runner.val_loop.run()
    assert 'accuracy/top1' in metrics


SHARED = os.environ.get(
    'MMTADA_SHARED_DATA', osp.join(REPO, '..', 'shared', 'data'))


def every(step, n=5000):
    return '[' + ','.join(str(i) for i in range(0, n, step)) + ']'


@pytest.mark.slow
@pytest.mark.skipif(not osp.isdir(osp.join(SHARED, 'cifar10-subset')),
                    reason='the shared CIFAR-10 subset is not on this machine')
def test_imagefolder_config_on_the_shared_cifar10_subset(tmp_path,
                                                         latent_weights):
    """The README's image-folder config through tools/train.py, on real
    CIFAR-10 files (a short schedule)."""
    import subprocess
    import sys
    env = dict(os.environ,
               DATA_ROOT=osp.join(SHARED, 'cifar10-subset'))
    work = tmp_path / 'work'
    cmd = [
        sys.executable, osp.join(REPO, 'tools', 'train.py'),
        osp.join(REPO, 'configs', 'tada_resnet18_imagefolder.py'),
        '--work-dir', str(work), '--cfg-options',
        'train_cfg.max_epochs=2', 'custom_hooks.0.select_epoch=1',
        # every 10th training image (50 per class), every 25th test image
        'train_dataloader.dataset.dataset.indices=' + every(10),
        'val_dataloader.dataset.indices=' + every(25),
        'train_dataloader.num_workers=1',
        'val_dataloader.num_workers=1', 'default_hooks.logger.interval=1000',
        # the recipe's ResNet-18 at a quarter of its width (16x fewer FLOPs)
        'model.backbone.stem_channels=16', 'model.backbone.base_channels=16',
        'model.head.in_channels=128',
        # the fragment's generator on a tiny random Stable Diffusion folder
        f'custom_hooks.0.generator.weights={latent_weights}',
        'custom_hooks.0.generator.num_inference_steps=10'
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    sel = json.load(open(work / 'tada' / 'selection.json'))
    assert sel['num_samples'] == 500 and 0 < len(sel['indices']) < 500
    assert set(sel['per_class_totals'].values()) == {50}
    assert set(sel['per_class_counts']) == {
        'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
        'horse', 'ship', 'truck'}
    assert 'TADA selection (kmeans, epoch 1)' in out.stdout + out.stderr
    assert 'Epoch(val) [2]' in out.stdout + out.stderr


def test_restart_mode_filters_with_the_model_at_the_selection(cls_cfg):
    """Run 2 starts from scratch: with ``checkpoint='selection'`` its
    variant filter scores with the selection run's model (saved at the
    selection), its slots sized to the selection."""
    cfg = cls_cfg(max_epochs=3, select_epoch=2, mode='restart',
                  variant_filter=dict(type='mmtada.LabelAgreement',
                                      min_ratio=0.0, max_tries=1,
                                      checkpoint='selection'))
    cfg.train_dataloader.dataset.num_slots = None
    cfg.default_hooks.checkpoint.interval = 3  # no epoch_2.pth of its own
    runner = train(cfg)
    work = cfg.work_dir
    assert osp.exists(osp.join(work, 'select', 'epoch_2.pth'))
    hook = lag_hook(runner)
    assert hook.variant_filter_cfg['checkpoint'] == osp.join(
        work, 'select', 'epoch_2.pth')
    gen = json.load(open(osp.join(work, 'tada', 'generation.json')))
    assert gen['kept'] == gen['total'] == 2 * len(hook.state.selection.indices)
    assert len(runner.train_dataloader.dataset) == 96 + gen['total']


def test_restart_mode_trains_the_filters_judge_on_the_real_data(cls_cfg):
    """Without a checkpoint the filter's judge is the config without TADA
    trained for the whole schedule in work_dir/judge, once: a second call
    reuses judge.pth."""
    import torch
    cfg = cls_cfg(max_epochs=2, select_epoch=1, mode='restart',
                  variant_filter=dict(type='mmtada.LabelAgreement',
                                      min_ratio=0.0, max_tries=1))
    runner = train(cfg)
    judge = osp.join(cfg.work_dir, 'judge', 'judge.pth')
    assert lag_hook(runner).variant_filter_cfg['checkpoint'] == judge
    ckpt = torch.load(judge, weights_only=False)
    # the whole schedule on the 96 real samples alone: 2 x 96 / 16 steps
    assert ckpt['meta']['iter'] == 12 and 'optimizer' not in ckpt
    assert 'tada' not in ckpt  # trained without TADA
    assert not osp.exists(osp.join(cfg.work_dir, 'judge', 'tada'))
    stamp = os.path.getmtime(judge)
    train(cfg)
    assert os.path.getmtime(judge) == stamp
