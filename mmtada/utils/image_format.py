"""An image's channel count and depth, and the conversions that keep them.

Generators see uint8 RGB; a variant is served in its source's format (grey
stays one channel, 16-bit stays 16-bit, RGBA keeps its source's alpha), so
a pipeline reading it with any ``color_type`` gets what the source gives.
"""
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

DTYPES = (np.uint8, np.uint16)


@dataclass
class ImageFormat:
    """``channels`` 1, 3 or 4; ``ndim`` 2 or 3 (a grey image with or
    without its channel axis); ``dtype`` uint8 or uint16; ``alpha``: the
    source's alpha channel when ``channels == 4``."""
    channels: int = 3
    ndim: int = 3
    dtype: type = np.uint8
    alpha: Optional[np.ndarray] = None


def format_of(img: np.ndarray, what: str = 'image') -> ImageFormat:
    """The format of a decoded or in-memory image; anything else is one
    clear error naming the fix."""
    img = np.asarray(img)
    if img.dtype not in DTYPES:
        raise TypeError(
            f'{what} is {img.dtype}; generators take uint8 (or uint16) '
            "pixels: store the dataset's images as uint8 0-255.")
    channels = 1 if img.ndim == 2 else img.shape[2]
    if img.ndim not in (2, 3) or channels not in (1, 3, 4):
        raise ValueError(
            f'{what} has shape {img.shape}: TADA makes variants of grey '
            '(H, W[, 1]), colour (H, W, 3) and RGBA (H, W, 4) images; '
            'convert the others when the dataset loads them.')
    return ImageFormat(channels, img.ndim, img.dtype.type,
                       img[..., 3].copy() if channels == 4 else None)


def swap_rb(img: np.ndarray) -> np.ndarray:
    """The image with its first and third channels swapped (RGB <-> BGR),
    contiguous; by OpenCV where it can (a reversed copy of a 16 MP photo
    costs several times more)."""
    if img.dtype in (np.uint8, np.uint16) and img.ndim == 3 and \
            img.shape[2] == 3 and img.flags.c_contiguous:
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(img[..., ::-1])


def to_rgb8(img: np.ndarray, order: str = 'bgr') -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` of an image of any format above; ``order``
    is the channel order of its colour channels (``'bgr'``: decoded by
    OpenCV)."""
    img = np.asarray(img)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    img = img[..., :3]
    return swap_rb(img) if order == 'bgr' else img


def to_format(rgb: np.ndarray, fmt: ImageFormat,
              order: str = 'bgr') -> np.ndarray:
    """``rgb`` (uint8 RGB) in ``fmt``, colour channels in ``order``: what
    OpenCV writes (``'bgr'``) or what an in-memory dataset holds."""
    if fmt.channels == 1:
        grey = rgb[..., 0] if (np.array_equal(rgb[..., 0], rgb[..., 1])
                               and np.array_equal(rgb[..., 0], rgb[..., 2])
                               ) else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        out = grey if fmt.ndim == 2 else grey[..., None]
    else:
        out = swap_rb(rgb) if order == 'bgr' else rgb
        if fmt.channels == 4:
            alpha = fmt.alpha if fmt.alpha is not None else np.full(
                rgb.shape[:2], 255 if fmt.dtype == np.uint8 else 65535)
            if alpha.dtype != np.uint8:
                alpha = (alpha >> 8).astype(np.uint8)
            out = np.dstack([out, alpha])
    if fmt.dtype == np.uint16:
        return out.astype(np.uint16) * 257
    return np.ascontiguousarray(out, dtype=np.uint8)
