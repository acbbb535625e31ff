"""How the variant cache stores a variant: lossless PNG, or JPEG for JPEG
sources."""
from typing import NamedTuple

import cv2
import numpy as np

CHOICES = ('png', 'source')
JPEG_EXTS = ('.jpg', '.jpeg')


class VariantCodec(NamedTuple):
    """``'png'`` (lossless, any format: grey, 16-bit, RGBA) or ``'jpeg'``
    at ``quality`` (8-bit grey or colour, the formats a JPEG source
    decodes to). A PNG cache's settings are as before codecs existed, so
    its folder (the settings' hash) stays the same; a JPEG cache is
    another folder, its variants ``<src>_<v>.jpg``."""
    name: str = 'png'
    quality: int = 95

    @property
    def ext(self) -> str:
        return '.jpg' if self.name == 'jpeg' else '.png'

    def settings(self) -> dict:
        """What keys the cache beside the generator's settings."""
        return {} if self.name == 'png' else dict(
            codec=self.name, quality=int(self.quality))

    def encode(self, img: np.ndarray) -> bytes:
        """``img`` (as OpenCV writes it: BGR colour) in this codec."""
        params = []
        if self.name == 'jpeg':
            if img.dtype != np.uint8 or (img.ndim == 3
                                         and img.shape[2] not in (1, 3)):
                raise ValueError(
                    f'a {img.dtype} image with shape {img.shape} has no '
                    "JPEG form: set variant_codec='png' for these sources.")
            params = [cv2.IMWRITE_JPEG_QUALITY, int(self.quality)]
        ok, buf = cv2.imencode(self.ext, img, params)
        if not ok:
            raise RuntimeError(f'could not encode a variant as {self.name}')
        return buf.tobytes()


def choose_codec(choice: str = 'png', quality: int = 95,
                 reader=None) -> VariantCodec:
    """The codec of a run's variants. ``'png'``: PNG. ``'source'``: the
    sources' own codec, JPEG at ``quality`` when every base sample of
    ``reader`` (a :class:`~mmtada.datasets.SampleReader`) is a JPEG file
    (COCO, VOC, ImageNet folders), else PNG (in-memory images such as
    CIFAR's, PNG or mixed files keep a lossless copy). Every rank and
    every tool choosing for the same data chooses the same."""
    if choice not in CHOICES:
        raise ValueError(f"variant_codec must be one of {CHOICES} ('png': "
                         "lossless; 'source': JPEG for JPEG sources), got "
                         f'{choice!r}.')
    if not 1 <= int(quality) <= 100:
        raise ValueError(f'jpeg_quality must be in 1..100, got {quality}.')
    if choice == 'source' and reader is not None and all(
            str(p).lower().endswith(JPEG_EXTS)
            for p in reader.image_files()):
        return VariantCodec('jpeg', int(quality))
    return VariantCodec()
