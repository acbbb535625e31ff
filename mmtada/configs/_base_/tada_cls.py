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

# TADA's generator, the paper's: a text-to-image latent diffusion model that
# edits each selected image with its class prompt (SDEdit: noised half-way,
# then denoised; guidance 3, 100 steps). Weights: a hub id or a local folder
# (offline: a folder). A pixel model of your own (tools/train_diffusion.py):
# dict(type='mmtada.PixelSDEdit', weights=FOLDER, strength=0.5).
# Exact copies instead (the USEFUL baseline): dict(type='mmtada.Upsample').
tada_generator = dict(
    type='mmtada.LatentSDEdit',
    weights='stable-diffusion-v1-5/stable-diffusion-v1-5',
    prompt_template='a photo of a {}',
    strength=0.5,
    guidance_scale=3.0,
    num_inference_steps=100)

tada_hook = dict(
    type='mmtada.LearningLagHook',
    select_epoch=None,       # default: 5% of the schedule (paper: 5-10%)
    rule='kmeans',           # per class 2-means on the outputs (paper)
    num_variants=5,          # k, variants per selected sample (paper: ~5)
    generator=tada_generator,
    variant_codec='png',     # 'source': JPEG (q95) for JPEG sources,
                             # about 0.2x PNG's bytes on photos
    mode='in_run')           # or 'restart': select, retrain from scratch

# Synthetic capacity (in_run mode; restart mode sizes it to the selection):
# the fraction the rule really selects x k. kmeans selected 46-63% of the
# CIFAR-10 subset (epochs 2-8) and 50% of the digits (the paper: 30-40%).
# The slots rotate through the variants from epoch to epoch, so a variant
# beyond the capacity is served in a later epoch, not wasted.
tada_dataset = dict(type='mmtada.TADADataset', slot_ratio=0.5 * 5,
                    mode='add')
