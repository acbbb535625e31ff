# configs/tada_retinanet_r18_digit_canvases.py in mmengine's pure-Python
# config style: bases are imported, so adding TADA to a recipe is two plain
# statements. Data from work_dirs/demo_det/data (tools/demo.py --detection).
from mmengine.config import read_base

with read_base():
    from ._base_.retinanet_r18_digit_canvases import *  # noqa: F401,F403
    from ._base_.tada_det import *  # noqa: F401,F403

train_dataloader.dataset = dict(  # noqa: F405
    tada_dataset, dataset=train_dataloader.dataset)  # noqa: F405
custom_hooks.append(  # noqa: F405
    dict(tada_hook, select_epoch=2, rule='kmeans', num_variants=3,  # noqa
         generator=dict(tada_generator, margin=0.15, generator=dict(  # noqa
             type='mmtada.PixelSDEdit',
             weights='work_dirs/demo_det/diffusion/pipeline',
             num_inference_steps=20))))
