# TADA with a small RetinaNet on the embedded detection default: digits of
# scikit-learn placed on cluttered 96x72 canvases (COCO files that
# `python tools/demo.py --detection` writes to DATA_ROOT; no download).
# ResNet-18 at 16 base channels from scratch, 192x144 inputs, CPU-sized.
_base_ = './tada_retinanet_r50_fpn_1x_coco.py'
data_root = '{{$DATA_ROOT:work_dirs/demo_det/data}}/'
classes = tuple(str(d) for d in range(10))
max_epochs = 16
img_scale = (192, 144)
feat = 64

model = dict(
    backbone=dict(depth=18, base_channels=16, init_cfg=None,
                  frozen_stages=-1, norm_eval=False),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=feat),
    bbox_head=dict(num_classes=10, in_channels=feat, feat_channels=feat,
                   stacked_convs=2))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
canvases = dict(type='CocoDataset', data_root=data_root,
                metainfo=dict(classes=classes), data_prefix=dict(img=''))
train_dataloader = dict(
    batch_size=8, num_workers=2,
    dataset=dict(dataset=dict(
        _delete_=True, **canvases, ann_file='annotations/train.json',
        filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=16, num_workers=2,
    dataset=dict(_delete_=True, **canvases, ann_file='annotations/test.json',
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/test.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs),
                     logger=dict(interval=20))

tada_generator = dict(
    _base_.tada_generator,
    margin=0.15,
    generator=dict(type='mmtada.PixelSDEdit',
                   weights='work_dirs/demo_det/diffusion/pipeline',
                   num_inference_steps=20))
custom_hooks = [
    dict(_base_.tada_hook, select_epoch=2, rule='kmeans', num_variants=3,
         generator=tada_generator)
]
