from .base_filter import BaseVariantFilter
from .label_agreement import LabelAgreement
from .variant_scoring import VariantScorer, model_from_checkpoint

__all__ = [
    'BaseVariantFilter', 'LabelAgreement', 'VariantScorer',
    'model_from_checkpoint'
]
