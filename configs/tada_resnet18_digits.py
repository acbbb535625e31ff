# The embedded default: TADA on scikit-learn's bundled handwritten digits
# (real data, no download), with a small CIFAR-style ResNet-18 that trains in
# about a minute on 2 CPU cores. `python tools/demo.py` runs it against the
# baseline.
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['mmtada'], allow_failed_imports=False)

# ======================== TADA: modified parameters ========================
tada_mode = 'in_run'
max_epochs = 30
select_epoch = 3          # 10% of the schedule
num_variants = 4
expected_fraction = 0.35
generator = dict(type='mmtada.Upsample')

# ======================== Model, data, schedule =============================
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=10, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False),
    backbone=dict(
        type='ResNet_CIFAR', depth=18, stem_channels=16, base_channels=16,
        num_stages=4, out_indices=(3, ), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=10, in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

train_pipeline = [
    dict(type='RandomCrop', crop_size=16, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='mmtada.TADADataset',
        dataset=dict(
            type='mmtada.Digits', split='train', pipeline=train_pipeline),
        slot_ratio=expected_fraction * num_variants,
        mode='add'))
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='mmtada.Digits', split='test', pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='CosineAnnealingLR', T_max=max_epochs,
                       by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=5, max_keep_ckpts=2))
randomness = dict(seed=0)

custom_hooks = [
    dict(
        type='mmtada.LearningLagHook',
        select_epoch=select_epoch,
        rule='kmeans',
        num_variants=num_variants,
        generator=generator,
        mode=tada_mode),
]
