"""On-disk store of generated variants."""
import hashlib
import json
import os
import os.path as osp
import tempfile

import cv2
import numpy as np


def settings_key(settings: dict) -> str:
    """A short stable hash of JSON-able settings."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write to a temp file in the same folder, then rename over ``path``:
    readers see the old file, or the whole new one, never a part."""
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


class VariantCache:
    """Variants of one dataset made with one generator setting.

    Layout: ``<root>/<dataset>-<settings hash>/<src // 1000>/<src>_<v>.png``
    plus ``settings.json``. File names are built from integers and hashes
    only. PNG is lossless, so what is read back is what was generated.
    Writes are atomic, so concurrent runs that share ``root`` and a run
    killed mid-write leave only whole files; later runs reuse them.

    Args:
        root (str): cache root (under the work dir, or shared).
        dataset (str): fingerprint of the source dataset.
        settings (dict): the generator's settings plus the seed.
    """

    def __init__(self, root: str, dataset: str, settings: dict):
        self.settings = dict(settings)
        self.dir = osp.join(root, f'{dataset[:12]}-{settings_key(settings)}')
        meta = osp.join(self.dir, 'settings.json')
        if not osp.exists(meta):
            atomic_write_bytes(meta, json.dumps(
                dict(dataset=dataset, settings=self.settings),
                indent=1, sort_keys=True, default=str).encode())

    @classmethod
    def for_run(cls, root: str, dataset, generator,
                seed: int) -> 'VariantCache':
        """The cache of ``generator``'s variants of ``dataset`` (a
        :class:`TADADataset`) made with ``seed``."""
        return cls(root, dataset.fingerprint(),
                   dict(generator=generator.settings(), seed=int(seed)))

    def path(self, source_idx: int, variant_idx: int) -> str:
        s, v = int(source_idx), int(variant_idx)
        return osp.join(self.dir, f'{s // 1000:05d}', f'{s}_{v}.png')

    def has(self, source_idx: int, variant_idx: int) -> bool:
        return osp.exists(self.path(source_idx, variant_idx))

    def write(self, source_idx: int, variant_idx: int,
              rgb: np.ndarray) -> str:
        path = self.path(source_idx, variant_idx)
        ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
        if not ok:
            raise RuntimeError(f'could not encode variant {path}')
        atomic_write_bytes(path, buf.tobytes())
        return path

    def read(self, source_idx: int, variant_idx: int) -> np.ndarray:
        """The variant as uint8 RGB."""
        path = self.path(source_idx, variant_idx)
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f'cannot read cached variant {path}; delete it and '
                          'rerun to regenerate it.')
        return bgr[..., ::-1].copy()
