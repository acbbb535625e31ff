"""scikit-learn's digits placed on cluttered canvases: a detection set
in COCO format that needs no download."""
import json
import os
import os.path as osp

import cv2
import numpy as np

from mmtada.utils.fileio import atomic_write_bytes
from .digits import clutter, digits_split

CLASSES = tuple(str(d) for d in range(10))


def write_digit_canvases(root: str, num_images: int = 200,
                         split: str = 'train', width: int = 96,
                         height: int = 72, max_digits: int = 3,
                         digit_size=(16, 28), seed: int = 0) -> str:
    """Write ``num_images`` PNG canvases of ``width`` x ``height`` holding
    1..``max_digits`` non-overlapping digits of ``split`` (the fixed
    75/25 split of :class:`mmtada.datasets.Digits`), each with its tight
    box, and ``<root>/annotations/<split>.json`` (COCO, categories '0'-'9',
    ids from 1). Same arguments, same files. Returns the json path."""
    digits, labels = digits_split(split)
    rng = np.random.RandomState(seed)
    os.makedirs(osp.join(root, split), exist_ok=True)
    images, annotations = [], []
    for i in range(num_images):
        img = clutter(rng, height, width)
        taken = []
        for _ in range(rng.randint(1, max_digits + 1)):
            k = rng.randint(len(digits))
            size = int(rng.randint(digit_size[0], digit_size[1] + 1))
            for _ in range(20):  # a free place, else skip this digit
                x, y = rng.randint(0, width - size), rng.randint(
                    0, height - size)
                if all(x + size <= a or a + s <= x or y + size <= b
                       or b + s <= y for a, b, s in taken):
                    break
            else:
                continue
            taken.append((x, y, size))
            glyph = cv2.resize(digits[k], (size, size),
                               interpolation=cv2.INTER_LINEAR)
            ink = glyph.astype(np.float32)[..., None] / 255
            color = rng.randint(160, 256, 3).astype(np.float32)
            patch = img[y:y + size, x:x + size].astype(np.float32)
            img[y:y + size, x:x + size] = (patch * (1 - ink) +
                                           color * ink).round()
            ys, xs = np.nonzero(glyph > 64)
            x1, y1 = x + xs.min(), y + ys.min()
            x2, y2 = x + xs.max() + 1, y + ys.max() + 1
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i + 1,
                category_id=int(labels[k]) + 1,
                bbox=[int(x1), int(y1), int(x2 - x1), int(y2 - y1)],
                area=int((x2 - x1) * (y2 - y1)), iscrowd=0))
        name = f'{split}/{i:05d}.png'
        ok, buf = cv2.imencode('.png', img[..., ::-1])
        atomic_write_bytes(osp.join(root, name), buf.tobytes())
        images.append(dict(id=i + 1, file_name=name, width=width,
                           height=height))
    ann = osp.join(root, 'annotations', f'{split}.json')
    atomic_write_bytes(ann, json.dumps(dict(
        images=images, annotations=annotations,
        categories=[dict(id=c + 1, name=n) for c, n in enumerate(CLASSES)]
    )).encode())
    return ann
