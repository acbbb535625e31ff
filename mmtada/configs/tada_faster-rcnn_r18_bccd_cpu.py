# The CPU-sized BCCD schedule behind the README's detection figures: the
# machine is offline (no ImageNet weights), so ResNet-18 from scratch with
# slim FPN and heads (64 channels, 128 RoIs), 320x240 inputs, anchors halved
# to match, 12 epochs at batch 4.
#   DATA_ROOT=/path/to/bccd python tools/train.py \
#       configs/tada_faster-rcnn_r18_bccd_cpu.py
#
# TADA as the paper runs it: select at epoch 2 (17% of the schedule) on the
# real data, then train from scratch with k=3 box-preserving variants of
# each selected image (weights: TADA_WEIGHTS, as in the base config),
# filtered by box agreement (its judge: TADA_JUDGE, a checkpoint of this
# config's baseline; by default a baseline trained first in
# <work_dir>/judge; TADA_JUDGE=selection: the model at the selection).
_base_ = './tada_faster-rcnn_r50_fpn_bccd.py'

img_scale = (320, 240)
max_epochs = 12
feat = 64
model = dict(
    backbone=dict(depth=18, init_cfg=None, frozen_stages=-1,
                  norm_eval=False),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=feat),
    rpn_head=dict(in_channels=feat, feat_channels=feat,
                  anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=feat),
        bbox_head=dict(in_channels=feat, fc_out_channels=256)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
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
train_dataloader = dict(
    num_workers=1, persistent_workers=True,
    dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=200),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[9, 11], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=1),
                     logger=dict(interval=25))

judge = '{{$TADA_JUDGE:train}}'
custom_hooks = [
    dict(
        _base_.custom_hooks[-1],
        mode='restart',
        variant_filter=dict(
            type='LabelAgreement', min_ratio=0.5,
            checkpoint=None if judge == 'train' else judge))
]
