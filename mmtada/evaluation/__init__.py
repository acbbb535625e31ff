from .box_fidelity import found_fraction, pixel_change, psnr
from .label_agreement import LabelAgreement
from .variant_scoring import VariantScorer, model_from_checkpoint

__all__ = [
    'LabelAgreement', 'VariantScorer', 'found_fraction',
    'model_from_checkpoint', 'pixel_change', 'psnr'
]
