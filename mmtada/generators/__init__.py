from .base_generator import BaseGenerator
from .box_layout import layout_mask
from .box_preserving_sdedit import BoxPreservingSDEdit
from .diffusion_weights import resolve_weights, weights_fingerprint
from .generation_chain import VariantSet, make_variants, open_cache
from .latent_sdedit import LatentSDEdit
from .pixel_sdedit import PixelSDEdit
from .sample_source import SampleSource
from .sdedit_loop import sdedit
from .sharded_generation import generate_shard, variant_pairs, variant_seed
from .strength_ladder import StrengthLadder, try_id, walk_step
from .upsample import Upsample
from .variant_cache import VariantCache, check_writable, settings_key
from .variant_codec import VariantCodec, choose_codec

__all__ = [
    'BaseGenerator', 'BoxPreservingSDEdit', 'LatentSDEdit', 'PixelSDEdit',
    'SampleSource', 'StrengthLadder', 'Upsample', 'VariantCache',
    'VariantCodec', 'VariantSet', 'check_writable', 'choose_codec', 'generate_shard', 'layout_mask',
    'make_variants', 'open_cache', 'resolve_weights', 'sdedit',
    'settings_key', 'try_id', 'variant_pairs', 'variant_seed', 'walk_step',
    'weights_fingerprint'
]
