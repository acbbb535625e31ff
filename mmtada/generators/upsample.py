"""Exact copies: the upsampling baseline (USEFUL)."""
from typing import List

import numpy as np

from mmtada.registry import GENERATORS
from .base_generator import BaseGenerator


@GENERATORS.register_module()
class Upsample(BaseGenerator):
    """Each variant is an exact copy of its source image.

    With ``num_variants=k`` a selected sample is seen ``k + 1`` times per
    epoch: the USEFUL baseline, against which diffusion variants are judged.

    Args:
        batch_size (int): images per call. Defaults to 256.
    """

    def __init__(self, batch_size: int = 256):
        self.batch_size = batch_size

    def generate(self, images: List[np.ndarray], annotations: List[dict],
                 seeds: List[int]) -> List[np.ndarray]:
        return [np.array(img, dtype=np.uint8, copy=True) for img in images]

    def settings(self) -> dict:
        return dict(type='Upsample')
