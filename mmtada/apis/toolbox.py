"""What each toolbox's own ``tools/train.py`` adds to a config."""
from mmengine.config import Config, ConfigDict

# mmpretrain's tools/train.py gives every loader these; mmdet's gives none
# (its configs set their own, and mmengine's default ``pseudo_collate``
# keeps images of different sizes apart for the detector's preprocessor).
LOADER_DEFAULTS = dict(
    mmpretrain=dict(pin_memory=True, persistent_workers=True,
                    collate_fn=dict(type='default_collate')),
    mmdet=dict(pin_memory=True, persistent_workers=True))
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def toolbox(cfg: Config) -> str:
    """``'mmdet'`` for detection configs (``default_scope`` mmdet, or a
    scope built on it such as mmyolo), else ``'mmpretrain'``."""
    scope = cfg.get('default_scope') or 'mmpretrain'
    return 'mmpretrain' if scope == 'mmpretrain' else 'mmdet'


def with_loader_defaults(cfg: Config) -> Config:
    """Fill in the dataloader settings of the config's toolbox where the
    config has none: what the config says always wins (a detection
    config's loaders keep mmengine's ``pseudo_collate`` unless they name
    another ``collate_fn``)."""
    defaults = LOADER_DEFAULTS[toolbox(cfg)]
    for field in LOADERS:
        if cfg.get(field, None) is None:
            continue
        loader = ConfigDict(defaults)
        loader.update(cfg[field])
        cfg[field] = loader
    return cfg
