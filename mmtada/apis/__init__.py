from .base_dataset import (base_dataset_cfg, build_base_dataset,
                           is_tada_wrapper, tada_wrapper_parent)
from .tada_parts import TadaParts, build_tada_parts
from .train import (build_runner, find_lag_hook, is_lag_hook,
                    selection_path, train, without_tada)

__all__ = [
    'TadaParts', 'base_dataset_cfg', 'build_base_dataset',
    'build_tada_parts', 'is_tada_wrapper',
    'build_runner', 'find_lag_hook', 'is_lag_hook', 'selection_path',
    'tada_wrapper_parent', 'train', 'without_tada'
]
