from .config_helpers import (base_dataset_cfg, build_sample_reader,
                             is_tada_wrapper, tada_wrapper_parent)
from .tada_parts import (TadaParts, TadaRun, build_tada_parts, open_run,
                         served_pairs)
from .train import (build_runner, find_lag_hook, is_lag_hook, run_config,
                    selection_path, tada_mode, train, without_tada)

__all__ = [
    'TadaParts', 'TadaRun', 'base_dataset_cfg', 'build_runner',
    'build_sample_reader', 'build_tada_parts', 'find_lag_hook', 'is_lag_hook',
    'is_tada_wrapper', 'open_run', 'run_config', 'selection_path',
    'served_pairs', 'tada_mode', 'tada_wrapper_parent', 'train',
    'without_tada'
]
