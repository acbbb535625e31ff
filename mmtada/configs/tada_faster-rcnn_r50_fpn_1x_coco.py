# TADA on mmdet's Faster R-CNN R50-FPN 1x COCO (settings: _base_/tada_det.py).
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', './_base_/tada_det.py'
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **_base_.tada_dataset,
        dataset=_base_.train_dataloader.dataset))
custom_hooks = _base_.get('custom_hooks', []) + [_base_.tada_hook]
