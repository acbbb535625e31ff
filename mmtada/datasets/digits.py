"""scikit-learn's bundled handwritten digits, as an mmpretrain dataset."""
from typing import Optional

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmtada.registry import DATASETS


def digits_split(split: str):
    """scikit-learn's digits of ``split``: ``(images, labels)``, 8x8 uint8
    grey levels scaled to 0-255 and int64 labels, from a fixed stratified
    75/25 split (the same on every machine and rank)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    labels = digits.target.astype(np.int64)
    rng = np.random.RandomState(0)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        test[rng.permutation(idx)[:len(idx) // 4]] = True
    keep = test if split == 'test' else ~test
    return images[keep], labels[keep]


@DATASETS.register_module()
class Digits(BaseDataset):
    """The 1,797 handwritten digits that ship with scikit-learn (UCI
    "Optical Recognition of Handwritten Digits", 8x8, 17 grey levels):
    real data that needs no download, for the embedded demo and tests.

    Images are held in memory as ``(size, size, 3)`` uint8 **RGB** arrays
    (grey levels scaled to 0-255, enlarged with bilinear interpolation), in
    the form of mmpretrain's CIFAR datasets: ``{'img', 'gt_label'}``, no
    loading transform needed. ``split`` is a fixed, stratified 75/25 split
    (the same on every machine and rank).

    A harder task from the same data (the embedded demo's): ``per_class``
    keeps the first so many digits of each class, and ``clutter`` draws
    each digit over grey clutter (a smooth random background with lines
    and blobs, as the detection canvases have, seeded by ``seed`` and the
    sample's position: the same on every machine), so the images stay
    grey.

    Args:
        split (str): ``'train'`` (1,352 images) or ``'test'`` (445).
        size (int): side of the enlarged images. Defaults to 16.
        per_class (int, optional): digits kept per class. Defaults to None
            (all).
        clutter (bool): grey clutter behind the digits. Defaults to False.
        seed (int): seeds the clutter. Defaults to 0.
    """
    METAINFO = dict(classes=tuple(str(d) for d in range(10)))

    def __init__(self, split: str = 'train', size: int = 16,
                 per_class: Optional[int] = None, clutter: bool = False,
                 seed: int = 0, **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"Digits split must be 'train' or 'test', got "
                             f"'{split}'.")
        self.split = split
        self.size = size
        self.per_class = per_class
        self.clutter = clutter
        self.seed = seed
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        import cv2
        images, labels = digits_split(self.split)
        if self.per_class is not None:
            keep = np.concatenate([np.flatnonzero(labels == c)[
                :self.per_class] for c in range(10)])
            keep.sort()
            images, labels = images[keep], labels[keep]
        data_list = []
        for i, (img, label) in enumerate(zip(images, labels)):
            img = cv2.resize(img, (self.size, self.size),
                             interpolation=cv2.INTER_LINEAR)
            if self.clutter:
                rng = np.random.RandomState([self.seed, i])
                back = clutter(rng, self.size, self.size).mean(2)
                ink = img.astype(np.float32) / 255
                img = (back * (1 - ink) + 255 * ink).round().astype(np.uint8)
            data_list.append(dict(
                img=np.repeat(img[..., None], 3, axis=2),
                gt_label=int(label)))
        return data_list


def clutter(rng, h, w) -> np.ndarray:
    """A smooth random colour background (uint8 RGB ``(h, w, 3)``) with
    lines and blobs."""
    import cv2
    low = rng.randint(0, 160, size=(3, 4, 3)).astype(np.uint8)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.randint(3, 8)):
        color = tuple(int(c) for c in rng.randint(0, 256, 3))
        p1 = (int(rng.randint(w)), int(rng.randint(h)))
        if rng.rand() < 0.5:
            p2 = (int(rng.randint(w)), int(rng.randint(h)))
            cv2.line(img, p1, p2, color, int(rng.randint(1, 3)))
        else:
            cv2.circle(img, p1, int(rng.randint(2, max(3, h // 6))), color,
                       -1)
    return img
