"""The interface every variant generator implements."""
from typing import List

import numpy as np


class BaseGenerator:
    """Makes variants of source images.

    A generator is stateless between calls: the same images, annotations and
    seeds give the same variants (on the same device type). It is built on
    every rank; each rank calls it on its own share of the work.

    Attributes:
        batch_size (int): the most images :meth:`generate` takes at once.
        varies_strength (bool): whether an annotation's ``strength``
            changes the edit (a strength ladder needs it).
    """
    batch_size: int = 1
    varies_strength: bool = False

    def generate(self, images: List[np.ndarray], annotations: List[dict],
                 seeds: List[int]) -> List[np.ndarray]:
        """Return one variant per source image.

        Args:
            images: source images, each ``(H, W, 3)`` uint8 **RGB**.
            annotations: one dict per image: ``gt_label`` (int) and
                ``class_name`` (str); optionally ``mask`` ((H, W), nonzero
                marks the region edited with the generator's inside
                strength); optionally ``strength`` (float: this image's
                edit strength, in place of the generator's; a strength
                ladder's step); detection adds ``bboxes`` ((K, 4) xyxy
                pixels) and ``labels``.
            seeds: one int per image; the variant depends on nothing else
                that is random.

        Returns:
            Variants, each uint8 RGB of its source's shape.
        """
        raise NotImplementedError

    def settings(self) -> dict:
        """Everything that changes the output; it keys the variant cache."""
        raise NotImplementedError
