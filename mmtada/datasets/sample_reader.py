"""The base samples of a training set, as generators and tools read them."""
import copy
import hashlib
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
from mmengine.dataset import (BaseDataset, ClassBalancedDataset,
                              ConcatDataset, RepeatDataset)

from mmtada.utils.image_format import ImageFormat, format_of, to_rgb8

CHANNEL_ORDERS = ('rgb', 'bgr')
REPEATING = (RepeatDataset, ClassBalancedDataset)


def leaves_of(dataset) -> List[BaseDataset]:
    """The datasets that hold the data, in index order, under mmengine's
    ``ConcatDataset``, ``RepeatDataset`` and ``ClassBalancedDataset``."""
    if isinstance(dataset, ConcatDataset):
        return [leaf for d in dataset.datasets for leaf in leaves_of(d)]
    if isinstance(dataset, REPEATING):
        return leaves_of(dataset.dataset)
    if isinstance(dataset, BaseDataset):
        return [dataset]
    raise TypeError(
        'TADADataset wraps an mmengine BaseDataset, or ConcatDataset / '
        'RepeatDataset / ClassBalancedDataset of them (or their config '
        f'dicts), got {type(dataset).__name__}; with mmdet\'s '
        'MultiImageMixDataset, wrap its inner dataset.')


def _base_indices(dataset) -> np.ndarray:
    """Base sample of each index of ``dataset`` (leaves numbered in
    order)."""
    if isinstance(dataset, ConcatDataset):
        parts, offset = [], 0
        for d in dataset.datasets:
            parts.append(_base_indices(d) + offset)
            offset += sum(len(leaf) for leaf in leaves_of(d))
        return np.concatenate(parts)
    if isinstance(dataset, RepeatDataset):
        return np.tile(_base_indices(dataset.dataset), dataset.times)
    if isinstance(dataset, ClassBalancedDataset):
        return _base_indices(dataset.dataset)[np.asarray(
            dataset.repeat_indices, dtype=np.int64)]
    return np.arange(len(dataset), dtype=np.int64)


class SampleReader:
    """Reads the base samples of a training set: their data infos, labels,
    annotations, images and image formats, and a fingerprint that
    identifies them.

    A *base sample* is one distinct sample of the data: a
    ``RepeatDataset`` or ``ClassBalancedDataset`` serves some several
    times, a ``ConcatDataset`` (VOC's 2007 + 2012) chains its parts, and
    base sample ``u`` is sample ``local`` of one leaf dataset
    (:meth:`locate`); :meth:`base_indices` maps the indices of the wrapped
    dataset to their base samples. A sample is read with its own leaf's data
    info, pipeline and storage backend (``backend_args`` of the leaf, or
    of its image-loading transform).

    This is the :class:`~mmtada.generators.SampleSource` that generators,
    the variant cache and the tools depend on; :class:`TADADataset` holds
    one. It never changes the dataset and keeps no state but the
    fingerprint (computed once: the base data never change), so every rank
    and worker holding a copy reads the same.

    Args:
        dataset (BaseDataset | ConcatDataset | RepeatDataset |
            ClassBalancedDataset): the training set (built).
        in_memory_channel_order (str): channel order of in-memory ``img``
            arrays of the dataset, ``'rgb'`` or ``'bgr'``. Defaults to
            ``'rgb'`` (mmpretrain's CIFAR datasets).
    """

    def __init__(self, dataset, in_memory_channel_order: str = 'rgb'):
        if in_memory_channel_order not in CHANNEL_ORDERS:
            raise ValueError("in_memory_channel_order must be 'rgb' or "
                             f"'bgr', got {in_memory_channel_order!r}.")
        self.dataset = dataset
        self.leaves = leaves_of(dataset)
        self.in_memory_channel_order = in_memory_channel_order
        self._offsets: Optional[np.ndarray] = None
        self._base: Optional[np.ndarray] = None
        self._fingerprint: Optional[str] = None

    # -- numbering ------------------------------------------------------------
    def _sizes(self) -> np.ndarray:
        if self._offsets is None:
            for leaf in self.leaves:
                leaf.full_init()
            self._offsets = np.cumsum([0] + [len(x) for x in self.leaves])
        return self._offsets

    def __len__(self) -> int:
        """How many base samples (distinct ones: repeats counted once)."""
        return int(self._sizes()[-1])

    def locate(self, idx: int) -> Tuple[BaseDataset, int]:
        """(leaf dataset, index in it) of base sample ``idx``."""
        offsets = self._sizes()
        if not 0 <= idx < offsets[-1]:
            raise IndexError(f'base sample {idx} out of range for '
                             f'{offsets[-1]}')
        k = int(np.searchsorted(offsets, idx, side='right')) - 1
        return self.leaves[k], int(idx - offsets[k])

    def base_indices(self) -> np.ndarray:
        """For each index of the wrapped dataset, the base sample it
        serves (computed once)."""
        if self._base is None:
            self._sizes()
            self._base = _base_indices(self.dataset)
        return self._base

    # -- what a sample is ----------------------------------------------------
    @property
    def classes(self):
        return self.dataset.metainfo.get('classes', None)

    @property
    def is_detection(self) -> bool:
        """Whether the data infos hold ``instances`` (boxes)."""
        return len(self) > 0 and 'instances' in self.data_info(0)

    def data_info(self, idx: int) -> dict:
        """Base sample ``idx``'s data info (a copy: safe to change)."""
        leaf, local = self.locate(idx)
        return copy.deepcopy(leaf.get_data_info(local))

    def pipeline(self, idx: int):
        """The pipeline base sample ``idx``'s own dataset applies."""
        return self.locate(idx)[0].pipeline

    def gt_labels(self) -> np.ndarray:
        """The label of each base sample (classification, one label each;
        multi-label datasets are refused)."""
        if self.is_detection:
            raise TypeError('a detection dataset has no per-image label; '
                            'use source_annotation(i) for its boxes.')
        labels = np.zeros(len(self), np.int64)
        for i in range(len(self)):
            leaf, local = self.locate(i)
            info = leaf.get_data_info(local)
            label = np.atleast_1d(np.asarray(
                info['gt_label'] if 'gt_label' in info
                else leaf.get_cat_ids(local), dtype=object))
            if label.size != 1:
                raise ValueError(
                    f'{type(leaf).__name__} gives sample {local} {label.size}'
                    ' labels: multi-label classification is not supported '
                    'yet (TADA selects per class by the single label of '
                    'each sample); train this dataset without '
                    'LearningLagHook.')
            labels[i] = int(label[0])
        return labels

    def fingerprint(self) -> str:
        """Identifies the base data (hex; computed once): class names, size,
        and per sample what identifies its image (its path relative to its
        dataset's data root, with its size when the data info has one; or a
        hash of an in-memory array and its shape) and its labels or boxes.
        The same files under another root keep their fingerprint; the same
        names at another resolution (in memory) or another file list do
        not."""
        if self._fingerprint is None:
            h = hashlib.sha1()
            h.update(repr(self.classes).encode())
            h.update(str(len(self)).encode())
            detection = self.is_detection
            for i in range(len(self)):
                leaf, local = self.locate(i)
                info = leaf.get_data_info(local)
                if 'img' in info:
                    img = np.ascontiguousarray(info['img'])
                    h.update(repr(img.shape).encode())
                    h.update(hashlib.sha1(img.tobytes()).digest())
                else:
                    root = getattr(leaf, 'data_root', '') or ''
                    path = str(info.get('img_path', ''))
                    h.update((osp.relpath(path, root) if root else path)
                             .encode())
                    h.update(repr((info.get('width'),
                                   info.get('height'))).encode())
                if detection:
                    ann = self.source_annotation(i)
                    h.update(ann['labels'].tobytes())
                    h.update(ann['bboxes'].round(2).tobytes())
                    h.update(ann['ignore_flags'].tobytes())
            if not detection:
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
        leaf, local = self.locate(idx)
        info = leaf.get_data_info(local)
        if 'instances' not in info:
            label = int(leaf.get_cat_ids(local)[0])
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

    # -- pixels --------------------------------------------------------------
    @staticmethod
    def backend_args(leaf) -> Optional[dict]:
        """How ``leaf``'s images are read: its own ``backend_args`` (mmdet
        datasets), else its image-loading transform's."""
        args = getattr(leaf, 'backend_args', None)
        if args is None:
            for t in getattr(leaf.pipeline, 'transforms', []):
                if getattr(t, 'backend_args', None) is not None:
                    return t.backend_args
        return args

    def _decode(self, idx: int, flag: str) -> np.ndarray:
        import cv2
        import mmcv
        from mmengine import fileio
        leaf, local = self.locate(idx)
        path = leaf.get_data_info(local)['img_path']
        try:
            img = mmcv.imfrombytes(
                fileio.get(path, backend_args=self.backend_args(leaf)),
                flag=flag)
        except cv2.error:
            img = None
        if img is None:
            raise OSError(
                f'cannot decode {path} (training sample {idx}): the file is '
                'corrupt or truncated; replace it, or remove it from the '
                'annotation file.')
        return img

    def source_image(self, idx: int) -> np.ndarray:
        """Base sample ``idx``'s image as uint8 RGB ``(H, W, 3)``, as the
        generators take it (files decoded as the default image loading
        does; grey repeated, 16-bit scaled, alpha dropped)."""
        leaf, local = self.locate(idx)
        info = leaf.get_data_info(local)
        if 'img' in info:
            format_of(info['img'], f'in-memory image of sample {idx}')
            return to_rgb8(info['img'], self.in_memory_channel_order)
        return to_rgb8(self._decode(idx, 'color'))

    def image_files(self) -> List[Optional[str]]:
        """Each base sample's image file (None: an in-memory image), from
        the data infos alone (nothing is read)."""
        files = []
        for idx in range(len(self)):
            leaf, local = self.locate(idx)
            info = leaf.get_data_info(local)
            files.append(None if 'img' in info else info.get('img_path'))
        return files

    def source_format(self, idx: int) -> ImageFormat:
        """Base sample ``idx``'s channel count, depth and alpha: the format
        its variants are stored and served in."""
        leaf, local = self.locate(idx)
        info = leaf.get_data_info(local)
        if 'img' in info:
            return format_of(info['img'], f'in-memory image of sample {idx}')
        return format_of(self._decode(idx, 'unchanged'),
                         f"image {info['img_path']}")
