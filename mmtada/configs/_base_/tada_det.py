# TADA for any mmdet detector. Inherit it beside the detector's config and
# wrap the training set and append the hook in your config (3 lines, see
# configs/tada_faster-rcnn_r50_fpn_1x_coco.py):
#
#   _base_ = ['mmdet::<detector config>', './_base_/tada_det.py']
#   train_dataloader = dict(dataset=dict(
#       _delete_=True, **_base_.tada_dataset,
#       dataset=_base_.train_dataloader.dataset))
#   custom_hooks = _base_.get('custom_hooks', []) + [_base_.tada_hook]
#
# Change a setting there with dict(_base_.tada_hook, select_epoch=2).
# With MultiImageMixDataset (Mosaic, MixUp) wrap its inner dataset:
#   dataset=dict(dataset=dict(_delete_=True, **_base_.tada_dataset,
#                             dataset=_base_.train_dataloader.dataset.dataset))
custom_imports = dict(imports=['mmtada'], allow_failed_imports=False)

# Text-to-image weights (hub id or local folder; offline: a folder).
# Box-preserving SDEdit: objects kept, background redrawn.
tada_generator = dict(
    type='mmtada.BoxPreservingSDEdit',
    mode='background',       # or 'objects': vary objects, keep the scene
    margin=0.1,              # box dilation, fraction of the box size
    generator=dict(
        type='mmtada.LatentSDEdit',
        weights='stable-diffusion-v1-5/stable-diffusion-v1-5',
        prompt_template='a photo of {}',
        guidance_scale=3.0,
        num_inference_steps=100))

tada_hook = dict(
    type='mmtada.DetLearningLagHook',
    select_epoch=1,          # ~10% of a 1x (12 epoch) schedule
    rule='kmeans',           # per class 2-means on instances; 'unlearned'
    iou_thr=0.5,             # a prediction finds an instance at this IoU
    score_thr=0.3,           # ... and counts as learned from this score
    aggregate='max',         # image score from its instances'
    min_instances=0.5,       # selected instances an image needs: a
                             # count, or a fraction of its instances
    max_fraction=0.35,       # cap on selected images, the hardest kept
    num_variants=3,
    generator=tada_generator,
    variant_codec='png',     # 'source': JPEG (q95) for JPEG sources,
                             # about 0.2x PNG's bytes on photos
    mode='in_run')
# Why a fraction and a cap: with min_instances=1 and no cap, one selected
# instance selects its image, and in dense scenes that is every image
# (BCCD, kmeans at epoch 2: 205/205 images for 47% of the instances; the
# digit canvases: all). With these settings the cap binds (BCCD: 71/205
# in every seed), so the capacity below is what the rule selects.

# Synthetic capacity (in_run mode; restart mode sizes it to the
# selection): the selected fraction (the cap) x num_variants. The slots
# rotate through the variants from epoch to epoch, so none is wasted.
tada_dataset = dict(type='mmtada.TADADataset', slot_ratio=0.35 * 3)
