# TADA for any mmpretrain classifier. Inherit it beside the classifier's
# config, then wrap the training set and append the hook in your config
# (see configs/tada_resnet18_cifar10.py):
#
#   _base_ = ['mmpretrain::<classifier config>', './_base_/tada_cls.py']
#   train_dataloader = dict(dataset=dict(
#       _delete_=True, **_base_.tada_dataset,
#       dataset=_base_.train_dataloader.dataset))
#   custom_hooks = _base_.get('custom_hooks', []) + [_base_.tada_hook]
#
# Change a setting there with dict(_base_.tada_hook, select_epoch=8).
# (An mmengine config cannot append to a base's list: hence the last line.
# configs/tada_resnet18_digits_purepy.py does the same in the pure-Python
# config style, where custom_hooks.append(...) is one line.)
custom_imports = dict(imports=['mmtada'], allow_failed_imports=False)

# Exact copies (the USEFUL baseline); for diffusion variants see the README:
# dict(type='mmtada.PixelSDEdit', weights=..., strength=0.5) or LatentSDEdit.
tada_generator = dict(type='mmtada.Upsample')

tada_hook = dict(
    type='mmtada.LearningLagHook',
    select_epoch=None,       # default: 5% of the schedule (paper: 5-10%)
    rule='kmeans',           # per class 2-means on the outputs (paper)
    num_variants=5,          # k, variants per selected sample (paper: ~5)
    generator=tada_generator,
    mode='in_run')           # or 'restart': select, retrain from scratch

# Synthetic capacity (in_run mode; restart mode sizes it to the selection):
# the fraction the rule really selects x k. kmeans selected 46-63% of the
# CIFAR-10 subset (epochs 2-8) and 50% of the digits (the paper: 30-40%).
# The slots rotate through the variants from epoch to epoch, so a variant
# beyond the capacity is served in a later epoch, not wasted.
tada_dataset = dict(type='mmtada.TADADataset', slot_ratio=0.5 * 5,
                    mode='add')
