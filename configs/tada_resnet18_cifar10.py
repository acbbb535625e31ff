# TADA on mmpretrain's ResNet-18 / CIFAR-10 recipe (200 epochs, batch 16 x 8).
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'
custom_imports = dict(imports=['mmtada'], allow_failed_imports=False)

# ======================== TADA: modified parameters ========================
tada_mode = 'in_run'      # or 'restart': select, then retrain from scratch
select_epoch = 8          # the paper's choice for ResNet-18 on CIFAR-10
num_variants = 5          # k, variants per selected sample
expected_fraction = 0.35  # sizes the synthetic slots
generator = dict(type='mmtada.Upsample')

# ======================== Unmodified in most cases =========================
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='mmtada.TADADataset',
        dataset=_base_.train_dataloader.dataset,
        slot_ratio=expected_fraction * num_variants,
        mode='add'))
custom_hooks = _base_.get('custom_hooks', []) + [
    dict(
        type='mmtada.LearningLagHook',
        select_epoch=select_epoch,
        rule='kmeans',
        num_variants=num_variants,
        generator=generator,
        mode=tada_mode),
]
