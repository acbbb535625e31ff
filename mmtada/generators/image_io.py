"""Moving images between uint8 RGB arrays and model tensors."""
from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch


def resize(img: np.ndarray, size) -> np.ndarray:
    """Resize to ``size`` = (width, height): area when shrinking, cubic
    when enlarging."""
    w, h = size
    if (img.shape[1], img.shape[0]) == (w, h):
        return img
    shrink = w * h < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA
                      if shrink else cv2.INTER_CUBIC)


def to_model(images: Sequence[np.ndarray], resolution: int, device,
             dtype) -> torch.Tensor:
    """uint8 RGB (H, W, 3) images -> (B, 3, R, R) in [-1, 1]."""
    batch = np.stack([resize(img, (resolution, resolution))
                      for img in images])
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x.to(device=device, dtype=dtype)


def from_model(x: torch.Tensor, shapes: Sequence[tuple]) -> List[np.ndarray]:
    """(B, 3, R, R) in [-1, 1] -> uint8 RGB images of the given shapes."""
    arr = ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte()
    arr = arr.permute(0, 2, 3, 1).cpu().numpy()
    return [resize(a, (s[1], s[0])) for a, s in zip(arr, shapes)]


def strength_maps(annotations: Sequence[dict], strength: float,
                  strength_inside: Optional[float],
                  resolution: int) -> torch.Tensor:
    """(B, 1, R, R) strength per pixel: ``strength_inside`` where an
    annotation's ``mask`` (H, W, nonzero = inside) says so, else
    ``strength``."""
    maps = []
    for ann in annotations:
        m = np.full((resolution, resolution), strength, np.float32)
        mask = ann.get('mask')
        if mask is not None and strength_inside is not None:
            inside = cv2.resize(np.asarray(mask, np.uint8) * 255,
                                (resolution, resolution),
                                interpolation=cv2.INTER_NEAREST) > 127
            m[inside] = strength_inside
        maps.append(m)
    return torch.from_numpy(np.stack(maps))[:, None]


def keep_exact(sources: Sequence[np.ndarray], variants: List[np.ndarray],
               annotations: Sequence[dict], strength: float,
               strength_inside: Optional[float]) -> List[np.ndarray]:
    """Where the strength is 0, return the source pixels exactly (at the
    source's own resolution, unaffected by resizing or a VAE)."""
    out = []
    for src, var, ann in zip(sources, variants, annotations):
        mask = ann.get('mask')
        if mask is None or strength_inside is None:
            keep = np.full(src.shape[:2], strength == 0)
        else:
            inside = np.asarray(mask).astype(bool)
            keep = np.where(inside, strength_inside == 0, strength == 0)
        out.append(np.where(keep[..., None], src, var).astype(np.uint8))
    return out


def letterbox(img: np.ndarray, side: int, interpolation=None):
    """Scale ``img`` so that its longer side is ``side`` (aspect kept) and
    reflect-pad it to ``side`` x ``side``; returns the square and the
    ``(height, width)`` of the scaled image at its top-left."""
    h, w = img.shape[:2]
    scale = side / max(h, w)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    if interpolation is None:
        small = resize(img, (sw, sh))
    else:
        small = cv2.resize(img, (sw, sh), interpolation=interpolation)
    pad = [(0, side - sh), (0, side - sw)] + [(0, 0)] * (img.ndim - 2)
    mode = 'reflect' if min(sh, sw) > 1 else 'edge'
    return np.pad(small, pad, mode=mode), (sh, sw)
