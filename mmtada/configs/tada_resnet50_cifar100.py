# TADA on mmpretrain's ResNet-50 / CIFAR-100 recipe (200 epochs, batch 16 x 8).
_base_ = [
    'mmpretrain::resnet/resnet50_8xb16_cifar100.py', './_base_/tada_cls.py'
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **_base_.tada_dataset,
        dataset=_base_.train_dataloader.dataset))
custom_hooks = _base_.get('custom_hooks', []) + [
    dict(_base_.tada_hook, select_epoch=10)  # 5% of 200 epochs
]
