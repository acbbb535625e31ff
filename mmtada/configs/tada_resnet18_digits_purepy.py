# configs/tada_resnet18_digits.py in mmengine's pure-Python config style:
# bases are imported, so adding TADA to a recipe is two plain statements.
from mmengine.config import read_base

with read_base():
    from ._base_.resnet18_digits import *  # noqa: F401,F403
    from ._base_.tada_cls import *  # noqa: F401,F403

train_dataloader.dataset = dict(  # noqa: F405
    tada_dataset, dataset=train_dataloader.dataset,  # noqa: F405
    slot_ratio=0.5 * 4)
custom_hooks.append(  # noqa: F405
    dict(tada_hook, select_epoch=3, num_variants=4,  # noqa: F405
         generator=dict(type='mmtada.PixelSDEdit',
                        weights='work_dirs/demo/diffusion/pipeline',
                        strength=0.5, num_inference_steps=20)))
