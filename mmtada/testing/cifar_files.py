"""CIFAR-100 files written by a test or benchmark, read by mmpretrain's own
CIFAR-100 loader: random images in the layout of the official
``cifar-100-python`` archive (pickled dicts with ``data``, (N, 3072) uint8
rows of R, G and B planes, and ``fine_labels`` / ``coarse_labels``).

Importing this module registers ``UncheckedCIFAR100`` in mmpretrain's
dataset registry: the same loader without the MD5 check of the official
files, so that a config reads these with ``type='UncheckedCIFAR100'``
(``custom_imports=dict(imports=['mmtada.testing.cifar_files'])`` in a
config, or ``--cfg-options`` of ``tools/train.py``).
"""
import os
import os.path as osp
import pickle

import numpy as np
from mmpretrain.datasets import CIFAR100
from mmpretrain.registry import DATASETS


@DATASETS.register_module(name='UncheckedCIFAR100', force=True)
class UncheckedCIFAR100(CIFAR100):
    """mmpretrain's CIFAR-100 loader without the MD5 check of the official
    archive (for files written by :func:`write_cifar100`)."""

    def _check_integrity(self):
        root = self.data_prefix['root']
        return all(
            osp.exists(osp.join(root, self.base_folder, name))
            for name, _ in self.train_list + self.test_list)


def write_cifar100(root: str, num_train: int = 2000, num_test: int = 500,
                   seed: int = 0, num_classes: int = 100) -> str:
    """Write ``cifar-100-python/{train,test,meta}`` under ``root``: random
    32x32 RGB images (smooth colour blobs, one mean colour per class, so a
    model can learn something), labels cycling over the first
    ``num_classes`` of the 100 classes (fewer: more samples per class in a
    small set). Returns ``root``."""
    rng = np.random.RandomState(seed)
    folder = osp.join(root, UncheckedCIFAR100.base_folder)
    os.makedirs(folder, exist_ok=True)
    palette = rng.randint(0, 256, (100, 3))

    def split(n, name):
        fine = np.arange(n) % num_classes
        rng.shuffle(fine)
        low = rng.randint(-64, 64, (n, 3, 4, 4))
        imgs = np.repeat(np.repeat(low, 8, 2), 8, 3) + palette[fine][
            :, :, None, None] + rng.randint(-16, 16, (n, 3, 32, 32))
        entry = dict(
            data=np.clip(imgs, 0, 255).astype(np.uint8).reshape(n, 3072),
            fine_labels=[int(c) for c in fine],
            coarse_labels=[int(c) // 5 for c in fine],
            filenames=[f'{name}_{i:05d}.png' for i in range(n)],
            batch_label=f'{name} batch (random images)')
        with open(osp.join(folder, name), 'wb') as f:
            pickle.dump(entry, f)

    split(num_train, 'train')
    split(num_test, 'test')
    with open(osp.join(folder, 'meta'), 'wb') as f:
        pickle.dump(dict(
            fine_label_names=list(CIFAR100.METAINFO['classes']),
            coarse_label_names=[f'coarse_{i}' for i in range(20)]), f)
    return root
