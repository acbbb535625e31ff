from .fileio import (atomic_path, atomic_write_bytes, atomic_write_json,
                     remove_stale_temp_files, replace_dir, temp_prefix)
from .run_layout import RunLayout
from .safe_loading import (UntrustedCheckpointError, safe_load,
                           trust_checkpoint)

__all__ = [
    'RunLayout', 'UntrustedCheckpointError', 'atomic_path',
    'atomic_write_bytes', 'atomic_write_json',
    'remove_stale_temp_files', 'replace_dir',
    'safe_load', 'temp_prefix', 'trust_checkpoint'
]
