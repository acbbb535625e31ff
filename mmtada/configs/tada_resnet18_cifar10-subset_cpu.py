# The CPU-sized CIFAR-10 schedule of the README's results: the image-folder
# config on a CIFAR-10 subset (DATA_ROOT=.../cifar10-subset), with
# mmpretrain's ResNet-18 in its ImageNet form (stride-2 stem and max-pool:
# 32 px images become 8x8 after the stem, a step about 17x cheaper than the
# CIFAR stem's), batch 128, SGD lr 0.1 with a cosine schedule, 60 epochs:
# the baseline fits its training images (96% train accuracy, 67% test on
# the 5,000-image subset), the regime the method is for. Every arm of an
# ablation trains this same model on this same schedule.
#
# TADA as the paper runs it: select at an automatic early epoch on the real
# data, then train from scratch with k=2 pixel SDEdit variants of each
# selected image (weights: TADA_WEIGHTS, a folder from
# tools/train_diffusion.py), filtered by label agreement (its judge:
# TADA_JUDGE, a checkpoint of this config's baseline; by default a baseline
# trained first in <work_dir>/judge, since the model at the selection
# judges no better than no filter; TADA_JUDGE=selection uses it anyway).
_base_ = './tada_resnet18_imagefolder.py'
max_epochs = 60

model = dict(backbone=dict(type='ResNet', depth=18))
train_dataloader = dict(batch_size=128, num_workers=2)
val_dataloader = dict(batch_size=256, num_workers=2)
test_dataloader = val_dataloader
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=40),
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)

weights = '{{$TADA_WEIGHTS:work_dirs/diffusion/cifar10-subset/pipeline}}'
judge = '{{$TADA_JUDGE:train}}'
custom_hooks = [
    dict(
        _base_.tada_hook,
        mode='restart',
        select_epoch='auto',
        num_variants=2,
        generator=dict(
            type='mmtada.PixelSDEdit',
            weights=weights,
            strength=0.2,
            num_inference_steps=20),
        variant_filter=dict(
            type='LabelAgreement', min_ratio=0.5,
            checkpoint=None if judge == 'train' else judge))
]
