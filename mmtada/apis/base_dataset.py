"""The training set of a config, as TADA's tools read it."""
import copy

from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope


def is_tada_wrapper(dataset_cfg) -> bool:
    return str(dataset_cfg.get('type', '')).split('.')[-1] == 'TADADataset'


def base_dataset_cfg(cfg: Config) -> ConfigDict:
    """``train_dataloader.dataset`` without the TADADataset around it."""
    dataset = cfg.train_dataloader.dataset
    return dataset.dataset if is_tada_wrapper(dataset) else dataset


def build_base_dataset(cfg: Config):
    """The config's base training set, wrapped with no slots and no
    pipeline: what generation and diffusion training read images from
    (``source_image``, labels, fingerprint). Built in the config's scope."""
    from mmtada.datasets import TADADataset
    inner = copy.deepcopy(base_dataset_cfg(cfg))
    inner['pipeline'] = []
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        return TADADataset(inner, num_slots=0)
