# TADA on the embedded detection default (_base_/retinanet_r18_digit_canvases
# .py): `python tools/demo.py --detection` writes the canvases to DATA_ROOT
# and runs this against its controls. Its pure-Python twin:
# configs/tada_retinanet_r18_digit_canvases_purepy.py.
_base_ = [
    './_base_/retinanet_r18_digit_canvases.py', './_base_/tada_det.py'
]
data_root = '{{$DATA_ROOT:work_dirs/demo_det/data}}/'

tada_generator = dict(
    _base_.tada_generator,
    margin=0.15,
    generator=dict(type='mmtada.PixelSDEdit',
                   weights='work_dirs/demo_det/diffusion/pipeline',
                   num_inference_steps=20))

train_dataloader = dict(
    dataset=dict(
        _base_.tada_dataset,
        _delete_=True,
        dataset=dict(_base_.train_dataloader.dataset, data_root=data_root)))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/test.json')
test_evaluator = val_evaluator
custom_hooks = _base_.custom_hooks + [
    dict(_base_.tada_hook, select_epoch=2, rule='kmeans', num_variants=3,
         generator=tada_generator)
]
