import copy

import mmtada  # noqa: F401  (first: applies the compatibility fixes)
import pytest
from mmengine.config import Config

PACK = [dict(type='mmpretrain.PackInputs')]


def tiny_cls_cfg(work_dir, num_samples=96, max_epochs=3, select_epoch=2,
                 num_slots=48, num_workers=0, persistent_workers=False,
                 **hook):
    """A real mmpretrain classifier on real data (the bundled digits),
    small enough that an epoch takes about a second on CPU."""
    hook_cfg = dict(type='mmtada.LearningLagHook', select_epoch=select_epoch,
                    rule='loss_quantile', num_variants=2)
    hook_cfg.update(hook)
    return Config(dict(
        default_scope='mmpretrain',
        work_dir=str(work_dir),
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(num_classes=10, mean=[127.5] * 3,
                                   std=[127.5] * 3),
            backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                          base_channels=8, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
                      loss=dict(type='CrossEntropyLoss'))),
        train_dataloader=dict(
            batch_size=16,
            num_workers=num_workers,
            persistent_workers=persistent_workers,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(
                type='mmtada.TADADataset',
                num_slots=num_slots,
                dataset=dict(type='mmtada.Digits', split='train',
                             indices=num_samples,
                             pipeline=copy.deepcopy(PACK)))),
        val_dataloader=dict(
            batch_size=64, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='mmtada.Digits', split='test', indices=64,
                         pipeline=copy.deepcopy(PACK))),
        val_evaluator=dict(type='Accuracy', topk=(1, )),
        val_cfg=dict(),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs,
                       val_interval=100),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1000),
            checkpoint=dict(type='CheckpointHook', interval=1)),
        custom_hooks=[hook_cfg],
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING'))


@pytest.fixture
def cls_cfg(tmp_path):
    """Build the tiny classification config in a fresh work dir."""

    def build(**kwargs):
        kwargs.setdefault('work_dir', tmp_path / 'work')
        return tiny_cls_cfg(**kwargs)

    return build
