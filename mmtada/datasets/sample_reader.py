"""The base samples of a training set, as generators and tools read them."""
import copy
import hashlib
from typing import Optional

import numpy as np

CHANNEL_ORDERS = ('rgb', 'bgr')


class SampleReader:
    """Reads the N base samples of a training set: their data infos, labels,
    annotations and images, and a fingerprint that identifies them.

    This is the :class:`~mmtada.generators.SampleSource` that generators,
    the variant cache and the tools depend on; :class:`TADADataset` holds
    one over the dataset it wraps. It never changes the dataset and keeps
    no state but the fingerprint (computed once: the base data never
    change), so every rank and worker holding a copy reads the same.

    Args:
        dataset (BaseDataset): the training set (built).
        in_memory_channel_order (str): channel order of in-memory ``img``
            arrays of the dataset, ``'rgb'`` or ``'bgr'``. Defaults to
            ``'rgb'`` (mmpretrain's CIFAR datasets).
    """

    def __init__(self, dataset, in_memory_channel_order: str = 'rgb'):
        if in_memory_channel_order not in CHANNEL_ORDERS:
            raise ValueError("in_memory_channel_order must be 'rgb' or "
                             f"'bgr', got {in_memory_channel_order!r}.")
        self.dataset = dataset
        self.in_memory_channel_order = in_memory_channel_order
        self._fingerprint: Optional[str] = None

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def classes(self):
        return self.dataset.metainfo.get('classes', None)

    @property
    def is_detection(self) -> bool:
        """Whether the data infos hold ``instances`` (boxes)."""
        return len(self) > 0 and 'instances' in self.data_info(0)

    def data_info(self, idx: int) -> dict:
        """Base sample ``idx``'s data info (a copy: safe to change)."""
        return copy.deepcopy(self.dataset.get_data_info(idx))

    def gt_labels(self) -> np.ndarray:
        """Labels of the N base samples (classification)."""
        if self.is_detection:
            raise TypeError('a detection dataset has no per-image label; '
                            'use source_annotation(i) for its boxes.')
        if hasattr(self.dataset, 'get_gt_labels'):
            return np.asarray(self.dataset.get_gt_labels(), dtype=np.int64)
        return np.array([self.dataset.get_cat_ids(i)[0]
                         for i in range(len(self))], dtype=np.int64)

    def fingerprint(self) -> str:
        """Identifies the base data: class names, size and labels, or for
        detection every image's boxes and labels (hex; computed once)."""
        if self._fingerprint is None:
            h = hashlib.sha1()
            h.update(repr(self.classes).encode())
            h.update(str(len(self)).encode())
            if self.is_detection:
                for i in range(len(self)):
                    ann = self.source_annotation(i)
                    h.update(ann['labels'].tobytes())
                    h.update(ann['bboxes'].round(2).tobytes())
                    h.update(ann['ignore_flags'].tobytes())
            else:
                h.update(self.gt_labels().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def source_annotation(self, idx: int) -> dict:
        """Base sample ``idx``'s annotation as generators take it:
        ``gt_label`` and ``class_name``; for detection also ``bboxes``
        ((K, 4) float32 xyxy, original pixels), ``labels`` (K,),
        ``ignore_flags`` (K,); then ``gt_label`` is the most frequent class
        (-1 without boxes) and ``class_name`` joins the classes present."""
        classes = self.classes
        info = self.dataset.get_data_info(idx)
        if 'instances' not in info:
            label = int(self.dataset.get_cat_ids(idx)[0])
            return dict(gt_label=label, class_name=str(
                classes[label] if classes else label))
        insts = info['instances']
        labels = np.array([int(i['bbox_label']) for i in insts], np.int64)
        names = [str(classes[c] if classes else c)
                 for c in dict.fromkeys(labels.tolist())]
        return dict(
            gt_label=int(np.bincount(labels).argmax()) if len(labels) else -1,
            class_name=', '.join(names),
            bboxes=np.array([i['bbox'] for i in insts],
                            np.float32).reshape(-1, 4),
            labels=labels,
            ignore_flags=np.array([int(i.get('ignore_flag', 0))
                                   for i in insts], np.int64))

    def source_image(self, idx: int) -> np.ndarray:
        """Base sample ``idx``'s image as uint8 RGB ``(H, W, 3)``, as the
        generators take it."""
        info = self.dataset.get_data_info(idx)
        if 'img' in info:
            img = np.asarray(info['img'])
            if img.dtype == np.uint16:
                img = (img >> 8).astype(np.uint8)
            elif img.dtype != np.uint8:
                raise TypeError(
                    f'in-memory image of sample {idx} is {img.dtype}; '
                    'generators take uint8 (or uint16) pixels: store the '
                    "dataset's images as uint8 0-255.")
            if img.ndim == 2:
                return np.repeat(img[..., None], 3, axis=2)
            img = img[..., :3]
            return img if self.in_memory_channel_order == 'rgb' \
                else np.ascontiguousarray(img[..., ::-1])
        import cv2
        import mmcv
        from mmengine import fileio
        try:
            img = mmcv.imfrombytes(fileio.get(info['img_path']),
                                   flag='color', channel_order='rgb')
        except cv2.error:
            img = None
        if img is None:
            raise OSError(
                f"cannot decode {info['img_path']} (training sample {idx}): "
                'the file is corrupt or truncated; replace it, or remove it '
                'from the annotation file.')
        return img
