"""scikit-learn's bundled handwritten digits, as an mmpretrain dataset."""
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

    Args:
        split (str): ``'train'`` (1,352 images) or ``'test'`` (445).
        size (int): side of the enlarged images.
    """
    METAINFO = dict(classes=tuple(str(d) for d in range(10)))

    def __init__(self, split: str = 'train', size: int = 16, **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"Digits split must be 'train' or 'test', got "
                             f"'{split}'.")
        self.split = split
        self.size = size
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        import cv2
        images, labels = digits_split(self.split)
        data_list = []
        for img, label in zip(images, labels):
            img = cv2.resize(img, (self.size, self.size),
                             interpolation=cv2.INTER_LINEAR)
            data_list.append(dict(
                img=np.repeat(img[..., None], 3, axis=2),
                gt_label=int(label)))
        return data_list
