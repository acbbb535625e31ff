# TADA on an image-folder dataset: mmpretrain CustomDataset with annotation
# files (`train.txt`, `test.txt`: "relative/path.jpg label" per line) and
# `classes.txt`, e.g. a CIFAR-10 subset:
#   DATA_ROOT=/path/to/cifar10-subset python tools/train.py \
#       configs/tada_resnet18_imagefolder.py
_base_ = [
    'mmpretrain::resnet/resnet18_8xb16_cifar10.py', './_base_/tada_cls.py'
]
data_root = '{{$DATA_ROOT:data/cifar10-subset}}'

# ======================== Data: image files ================================
# Files are read as BGR by LoadImageFromFile: convert to RGB in the model.
data_preprocessor = dict(
    num_classes=10,
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=True)
model = dict(data_preprocessor=data_preprocessor)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
image_folder = dict(
    type='CustomDataset',
    data_root=data_root,
    data_prefix='',
    classes=data_root + '/classes.txt')

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **_base_.tada_dataset,
        dataset=dict(
            image_folder, ann_file='train.txt', pipeline=train_pipeline)))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **image_folder,
        ann_file='test.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
custom_hooks = _base_.get('custom_hooks', []) + [
    dict(_base_.tada_hook, select_epoch=8)
]
