from .digits import Digits
from .sample_reader import SampleReader
from .tada_dataset import TADADataset, find_tada_dataset

__all__ = ['Digits', 'SampleReader', 'TADADataset', 'find_tada_dataset']
