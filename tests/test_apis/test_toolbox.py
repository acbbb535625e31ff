from mmengine.config import Config

from mmtada.apis.toolbox import toolbox, with_loader_defaults


def loaders(**train):
    return Config(dict(train_dataloader=dict(batch_size=2, **train),
                       val_dataloader=dict(batch_size=1),
                       test_dataloader=None))


def test_classification_loaders_get_mmpretrains_default_collate():
    cfg = loaders()
    cfg.default_scope = 'mmpretrain'
    with_loader_defaults(cfg)
    assert cfg.train_dataloader.collate_fn == dict(type='default_collate')
    assert cfg.val_dataloader.persistent_workers is True
    assert cfg.test_dataloader is None


def test_detection_loaders_keep_pseudo_collate_and_the_config_wins():
    cfg = loaders()
    cfg.default_scope = 'mmdet'
    with_loader_defaults(cfg)
    assert 'collate_fn' not in cfg.train_dataloader  # mmengine's default
    cfg = loaders(collate_fn=dict(type='yolov5_collate'))
    cfg.default_scope = 'mmpretrain'
    with_loader_defaults(cfg)
    assert cfg.train_dataloader.collate_fn == dict(type='yolov5_collate')
    assert toolbox(Config(dict(default_scope='mmyolo'))) == 'mmdet'
