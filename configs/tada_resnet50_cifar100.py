# TADA on mmpretrain's ResNet-50 / CIFAR-100 recipe (200 epochs, batch 16 x 8).
_base_ = 'mmpretrain::resnet/resnet50_8xb16_cifar100.py'
custom_imports = dict(imports=['mmtada'], allow_failed_imports=False)

# ======================== TADA: modified parameters ========================
tada_mode = 'in_run'      # or 'restart': select, then retrain from scratch
select_epoch = 10         # ~5% of the 200-epoch schedule (paper: 5-10%)
num_variants = 5          # k, variants per selected sample (paper: ~5)
expected_fraction = 0.35  # sizes the synthetic slots (paper: 30-40% selected)
generator = dict(type='mmtada.Upsample')  # diffusion generators: see README

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
