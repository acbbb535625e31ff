"""What generation reads from a training set."""
from typing import Protocol, runtime_checkable

import numpy as np

from mmtada.utils.image_format import ImageFormat


@runtime_checkable
class SampleSource(Protocol):
    """The base samples variants are made of, by index ``0..N-1``.

    :class:`mmtada.datasets.SampleReader` implements it; generation, the
    variant cache and the tools depend on this interface alone.
    """

    def fingerprint(self) -> str:
        """A hex digest identifying the samples (keys the variant cache)."""

    def source_image(self, idx: int) -> np.ndarray:
        """Sample ``idx``'s image, uint8 RGB ``(H, W, 3)``."""

    def source_format(self, idx: int) -> ImageFormat:
        """Sample ``idx``'s channels and depth: its variants are stored and
        served in them."""

    def source_annotation(self, idx: int) -> dict:
        """Sample ``idx``'s annotation (``gt_label``, ``class_name``; for
        detection ``bboxes``, ``labels``, ``ignore_flags``)."""
