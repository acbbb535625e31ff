# TADA with Faster R-CNN R50-FPN on BCCD (blood cells: RBC, WBC, Platelets;
# 205 train / 87 val / 72 test images of 640x480, COCO json). The diffusion
# model is a small pixel one trained on the BCCD training images:
#   export DATA_ROOT=/path/to/bccd
#   python tools/train_diffusion.py configs/tada_faster-rcnn_r50_fpn_bccd.py \
#       --work-dir work_dirs/diffusion_bccd
#   python tools/train.py configs/tada_faster-rcnn_r50_fpn_bccd.py
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', './_base_/tada_det.py'
]
data_root = '{{$DATA_ROOT:data/bccd}}/'
metainfo = dict(
    classes=('RBC', 'WBC', 'Platelets'),
    palette=[(220, 20, 60), (0, 0, 230), (0, 160, 0)])
model = dict(roi_head=dict(bbox_head=dict(num_classes=3)))

img_scale = (640, 480)
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


def bccd(split, pipeline, **kwargs):
    return dict(type='CocoDataset', data_root=data_root, metainfo=metainfo,
                ann_file=f'annotations_coco_{split}.json',
                data_prefix=dict(img=''), pipeline=pipeline, **kwargs)


train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        _delete_=True,
        **_base_.tada_dataset,
        dataset=bccd('train', train_pipeline,
                     filter_cfg=dict(filter_empty_gt=True, min_size=8))))
val_dataloader = dict(
    dataset=dict(_delete_=True, **bccd('val', test_pipeline, test_mode=True)))
test_dataloader = dict(
    dataset=dict(_delete_=True, **bccd('test', test_pipeline,
                                       test_mode=True)))
val_evaluator = dict(ann_file=data_root + 'annotations_coco_val.json')
test_evaluator = dict(ann_file=data_root + 'annotations_coco_test.json')
auto_scale_lr = dict(enable=True, base_batch_size=16)

# TADA_WEIGHTS: the folder tools/train_diffusion.py wrote (default below).
weights = '{{$TADA_WEIGHTS:work_dirs/diffusion_bccd/pipeline}}'
tada_generator = dict(
    _base_.tada_generator,
    generator=dict(type='mmtada.PixelSDEdit',
                   weights=weights,
                   num_inference_steps=20))
# About 13 cells an image: nearly every image holds a lagging one, so an
# image needs half of its cells selected, and at most 35% of the images
# (the highest mean scores) are augmented.
custom_hooks = _base_.get('custom_hooks', []) + [
    dict(_base_.tada_hook, select_epoch=2, aggregate='mean',
         min_instances=0.5, max_fraction=0.35, generator=tada_generator)
]
del bccd
