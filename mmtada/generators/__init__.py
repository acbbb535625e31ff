from .base_generator import BaseGenerator
from .generate_variants import generate_variants, variant_pairs, variant_seed
from .upsample import Upsample
from .variant_cache import VariantCache, atomic_write_bytes, settings_key

__all__ = [
    'BaseGenerator', 'Upsample', 'VariantCache', 'atomic_write_bytes',
    'generate_variants', 'settings_key', 'variant_pairs', 'variant_seed'
]
