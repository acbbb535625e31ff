"""Config helpers: where a config's TADADataset is, the dataset it wraps,
and a reader over that training set, as TADA's tools read it."""
import copy
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

from mmtada.datasets import SampleReader
from mmtada.registry import DATASETS


def is_tada_wrapper(dataset_cfg) -> bool:
    return str(dataset_cfg.get('type', '')).split('.')[-1] == 'TADADataset'


def tada_wrapper_parent(cfg: Config) -> Optional[ConfigDict]:
    """The config node whose ``dataset`` is the TADADataset: the train
    loader, or a wrapper around it (e.g. ``MultiImageMixDataset``)."""
    node = cfg.train_dataloader
    while isinstance(node.get('dataset'), dict):
        if is_tada_wrapper(node.dataset):
            return node
        node = node.dataset
    return None


def base_dataset_cfg(cfg: Config) -> ConfigDict:
    """The dataset the TADADataset wraps (``train_dataloader.dataset`` if
    there is none)."""
    parent = tada_wrapper_parent(cfg)
    return parent.dataset.dataset if parent is not None \
        else cfg.train_dataloader.dataset


def build_sample_reader(cfg: Config):
    """A :class:`~mmtada.datasets.SampleReader` over the config's base
    training set, built without its pipeline in the config's scope: what
    generation, diffusion training and the tools read images from."""
    inner = copy.deepcopy(base_dataset_cfg(cfg))
    inner['pipeline'] = []
    parent = tada_wrapper_parent(cfg)
    order = parent.dataset.get('in_memory_channel_order', 'rgb') \
        if parent is not None else 'rgb'
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        dataset = DATASETS.build(inner)
    dataset.full_init()
    return SampleReader(dataset, order)
