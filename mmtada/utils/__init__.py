from .fileio import (atomic_path, atomic_write_bytes, atomic_write_json,
                     remove_stale_temp_files, replace_dir, temp_prefix)
from .run_layout import RunLayout

__all__ = [
    'RunLayout', 'atomic_path', 'atomic_write_bytes', 'atomic_write_json',
    'remove_stale_temp_files', 'replace_dir', 'temp_prefix'
]
