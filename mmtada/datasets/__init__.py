from .digits import Digits
from .tada_dataset import TADADataset

__all__ = ['Digits', 'TADADataset']
