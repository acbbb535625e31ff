# The embedded default: TADA on scikit-learn's bundled handwritten digits
# (_base_/resnet18_digits.py; real data, no download). `python tools/demo.py`
# runs it against its controls. configs/tada_resnet18_digits_purepy.py is the
# same config in the pure-Python style.
_base_ = ['./_base_/resnet18_digits.py', './_base_/tada_cls.py']

# ======================== TADA: modified parameters ========================
select_epoch = 3          # 10% of the 30-epoch schedule
num_variants = 4
expected_fraction = 0.5  # kmeans selects about half of the digits
# No public model knows these cluttered 16 px digits: a pixel model trained
# on them (tools/demo.py trains it there; or TADA_WEIGHTS=FOLDER, from
# tools/train_diffusion.py).
generator = dict(
    type='mmtada.PixelSDEdit',
    weights='{{$TADA_WEIGHTS:work_dirs/demo/diffusion/pipeline}}',
    strength=0.5,
    num_inference_steps=20)

# ======================== Unmodified in most cases =========================
train_dataloader = dict(
    dataset=dict(
        _base_.tada_dataset,
        _delete_=True,
        dataset=_base_.train_dataloader.dataset,
        slot_ratio=expected_fraction * num_variants))
custom_hooks = _base_.custom_hooks + [
    dict(_base_.tada_hook, select_epoch=select_epoch,
         num_variants=num_variants, generator=generator)
]
