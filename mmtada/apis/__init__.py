from .train import (build_runner, find_lag_hook, selection_path, train,
                    without_tada)

__all__ = [
    'build_runner', 'find_lag_hook', 'selection_path', 'train', 'without_tada'
]
