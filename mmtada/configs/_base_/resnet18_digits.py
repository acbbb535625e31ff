# The embedded default recipe (no TADA): a small CIFAR-style ResNet-18 on
# scikit-learn's bundled handwritten digits (real data, no download), made
# harder than the plain digits (at this model's ceiling): 40 training digits
# per class, over grey clutter (lines, blobs); an epoch takes about a second
# on 2 CPU cores. Plain dicts and no `_base_`, so that
# both config styles inherit it: configs/tada_resnet18_digits.py and
# configs/tada_resnet18_digits_purepy.py.
default_scope = 'mmpretrain'
max_epochs = 30

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
        type='mmtada.Digits', split='train', per_class=40, clutter=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='mmtada.Digits', split='test', clutter=True, seed=1,
                 pipeline=test_pipeline))
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

# Runtime, as mmpretrain's _base_/default_runtime.py.
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
custom_hooks = []
