"""Fixed-capacity dataset wrapper that serves variants of lagging samples."""
import copy
import hashlib
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.logging import print_log

from mmtada.registry import DATASETS

MODES = ('add', 'replace')


@DATASETS.register_module()
class TADADataset:
    """Wraps a training set; after selection it also serves the variants.

    **Length is fixed when built**, so ``DefaultSampler``, the loop's
    ``max_iters`` and epoch-to-iteration schedulers stay correct:

    - ``mode='add'`` (TADA): ``len = N + num_slots``. Index ``i < N`` is base
      sample ``i``. Slot ``j`` (index ``N + j``) serves, **before
      selection**, base sample ``perm[j % N]`` for a permutation seeded by
      ``seed`` (extra uniform draws of the real data); **after**
      :meth:`set_variants`, variant ``j % V`` of the ``V`` variants ordered
      by (variant index, source index): cycled when ``V < num_slots``; when
      ``V > num_slots`` the surplus (the highest variant indices, evenly
      across samples) is not served and a warning says so.
    - ``mode='replace'``: ``len = N``; a base sample that has variants is
      replaced, each time it is drawn, by one of them with probability
      ``replace_prob`` (the draw happens in the worker, seeded by mmengine's
      worker seeding).

    **Detection** (inner data infos with ``instances``, e.g. mmdet's
    ``CocoDataset``): a variant's data info is its source's, with
    ``img_path`` pointing at the variant, a new unique integer ``img_id``
    and the source's ``width``/``height`` and ``instances`` (bbox,
    bbox_label, ignore_flag) unchanged, which box-preserving generators
    keep valid. mmdet's aspect-ratio batch sampler reads them through
    :meth:`get_data_info` in the main process. Inside mmdet's
    ``MultiImageMixDataset``, wrap its inner dataset.

    Every item's data sample carries in its metainfo ``sample_idx`` (this
    wrapper's index, unique), ``source_idx`` (the base sample it comes
    from) and ``is_synthetic``. Variants go through the **inner dataset's**
    pipeline; in-memory images (mmpretrain's CIFAR datasets hold RGB arrays)
    are given in ``in_memory_channel_order``, file-based ones by path, read
    by the pipeline exactly as the originals are.

    :meth:`set_variants` changes state in *this* process only: DataLoader
    workers hold a copy, so they must be restarted
    (``LearningLagHook`` drops the loader's iterator). Every rank must call
    it with the same arguments.

    Args:
        dataset (BaseDataset | dict): the training set, or its config.
        num_slots (int, optional): synthetic capacity for ``mode='add'``.
            Defaults to ``round(slot_ratio * N)``.
        slot_ratio (float): capacity relative to N when ``num_slots`` is
            None; the paper's setting (about 35% selected, 5 variants each)
            needs about 1.75.
        mode (str): ``'add'`` or ``'replace'``.
        replace_prob (float): for ``mode='replace'``.
        in_memory_channel_order (str): channel order of in-memory ``img``
            arrays of the inner dataset, ``'rgb'`` or ``'bgr'``.
        seed (int): seeds the pre-selection slot permutation.
        lazy_init (bool): as in mmengine's wrappers.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 num_slots: Optional[int] = None,
                 slot_ratio: float = 1.75,
                 mode: str = 'add',
                 replace_prob: float = 0.5,
                 in_memory_channel_order: str = 'rgb',
                 seed: int = 0,
                 lazy_init: bool = False):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not isinstance(dataset, BaseDataset):
            raise TypeError(
                'TADADataset wraps an mmengine BaseDataset (or its config '
                f'dict), got {type(dataset).__name__}.')
        if mode not in MODES:
            raise ValueError(f"TADADataset mode must be one of {MODES}, got "
                             f"'{mode}'.")
        if in_memory_channel_order not in ('rgb', 'bgr'):
            raise ValueError("in_memory_channel_order must be 'rgb' or 'bgr'.")
        if not 0 <= replace_prob <= 1:
            raise ValueError('replace_prob must be in [0, 1].')
        self.dataset = dataset
        self.mode = mode
        self.replace_prob = replace_prob
        self.in_memory_channel_order = in_memory_channel_order
        self.seed = seed
        self._num_slots = num_slots
        self._slot_ratio = slot_ratio
        self._metainfo = dataset.metainfo
        self._variants: List[Tuple[int, int]] = []
        self._by_source = {}
        self._cache = None
        self._fingerprint = None
        self._first_img_id = 0
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    # -- mmengine wrapper recipe -----------------------------------------
    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.dataset.full_init()
        self._ori_len = len(self.dataset)
        if self.mode == 'replace':
            self.num_slots = 0
        elif self._num_slots is not None:
            self.num_slots = int(self._num_slots)
        else:
            self.num_slots = int(round(self._slot_ratio * self._ori_len))
        if self.num_slots < 0:
            raise ValueError('num_slots must be >= 0.')
        rng = np.random.RandomState(self.seed)
        self._slot_perm = rng.permutation(self._ori_len)
        self._fully_initialized = True

    @force_full_init
    def __len__(self) -> int:
        return self._ori_len + self.num_slots

    @property
    def num_base(self) -> int:
        self.full_init()
        return self._ori_len

    # -- what an index serves ---------------------------------------------
    @property
    def has_variants(self) -> bool:
        return bool(self._variants)

    @property
    def variants(self) -> List[Tuple[int, int]]:
        """The (source index, variant index) pairs, in slot order."""
        return list(self._variants)

    def set_variants(self, cache, variants: Sequence[Tuple[int, int]]) -> None:
        """Serve ``variants`` (pairs of source and variant index) from
        ``cache`` (a :class:`VariantCache` holding all of them)."""
        self.full_init()
        # Ordered by variant index first: a surplus over num_slots drops
        # the last variants of every sample, never whole samples.
        variants = sorted(((int(s), int(v)) for s, v in variants),
                          key=lambda p: (p[1], p[0]))
        for s, _ in variants:
            if not 0 <= s < self._ori_len:
                raise IndexError(
                    f'variant of sample {s} does not fit a dataset of '
                    f'{self._ori_len}: the selection was made on another '
                    'dataset; rerun the selection for this one.')
        self._cache = cache
        self._variants = variants
        if self.is_detection:
            ids = [self.dataset.get_data_info(i).get('img_id', 0)
                   for i in range(self._ori_len)]
            self._first_img_id = 1 + max(
                [i for i in ids if isinstance(i, int)], default=0)
        self._by_source = {}
        self._position = {p: i for i, p in enumerate(variants)}
        for s, v in variants:
            self._by_source.setdefault(s, []).append(v)
        if self.mode == 'add' and len(variants) > self.num_slots:
            print_log(
                f'TADADataset: {len(variants)} variants but {self.num_slots} '
                f'slots; {len(variants) - self.num_slots} variants are not '
                f'served. Set num_slots >= {len(variants)} to serve all.',
                logger='current', level=30)

    def state_digest(self) -> str:
        """A hash of what every index serves: the base data, length, slot
        seed and the served variants with their cache checksums (not the
        cache's path). Equal on every rank of a run, and after a resume."""
        self.full_init()
        h = hashlib.sha1(self.fingerprint().encode())
        h.update(f'{self.mode}/{len(self)}/{self.seed}'.encode())
        listed = self._cache.listed() if self._variants else {}
        for pair in self._variants:
            h.update(repr((pair, sorted(listed.get(pair, ())))).encode())
        return h.hexdigest()

    def _resolve(self, idx: int) -> Tuple[int, Optional[int]]:
        """(source index, variant index or None) served at ``idx``,
        the replace-mode draw aside."""
        return self._resolve_slot(idx)[:2]

    def _resolve_slot(self, idx: int) -> Tuple[int, Optional[int], int]:
        """As :meth:`_resolve`, plus the variant's position in the
        variant list (-1 for real samples)."""
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f'index {idx} out of range for {len(self)}')
        if idx < self._ori_len:
            return idx, None, -1
        j = idx - self._ori_len
        if self._variants:
            pos = j % len(self._variants)
            return (*self._variants[pos], pos)
        return int(self._slot_perm[j % self._ori_len]), None, -1

    def _info(self, idx: int, source: int, variant: Optional[int]) -> dict:
        info = copy.deepcopy(self.dataset.get_data_info(source))
        if variant is not None:
            if 'img' in info:
                rgb = self._cache.read(source, variant)
                info['img'] = rgb if self.in_memory_channel_order == 'rgb' \
                    else np.ascontiguousarray(rgb[..., ::-1])
            else:
                info['img_path'] = self._cache.path(source, variant)
            if 'instances' in info:
                pos = self._position[(source, variant)]
                info['img_id'] = self._first_img_id + pos
        info['sample_idx'] = idx
        info['source_idx'] = source
        info['is_synthetic'] = variant is not None
        return info

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The data info served at ``idx`` (replace mode: the base one)."""
        source, variant = self._resolve(idx)
        return self._info(idx, source, variant)

    def prepare_data(self, idx: int):
        source, variant = self._resolve(idx)
        if (self.mode == 'replace' and source in self._by_source
                and np.random.random() < self.replace_prob):
            options = self._by_source[source]
            variant = options[np.random.randint(len(options))]
        info = self._info(idx, source, variant)
        data = self.dataset.pipeline(info)
        if isinstance(data, dict) and hasattr(data.get('data_samples'),
                                              'set_metainfo'):
            data['data_samples'].set_metainfo(
                dict(sample_idx=idx, source_idx=source,
                     is_synthetic=variant is not None))
        return data

    def __getitem__(self, idx: int):
        if not self._fully_initialized:
            self.full_init()
        if self.dataset.test_mode:
            data = self.prepare_data(idx)
            if data is None:
                raise RuntimeError('the test pipeline returned None for '
                                   f'index {idx}')
            return data
        for _ in range(self.dataset.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            idx = np.random.randint(0, len(self))
        raise RuntimeError(
            f'Cannot find a valid image after {self.dataset.max_refetch} '
            'tries; check the data and the pipeline.')

    # -- forwarded for mmpretrain hooks and samplers ----------------------
    @property
    def CLASSES(self):
        return self._metainfo.get('classes', None)

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.CLASSES or [])}

    @property
    def is_detection(self) -> bool:
        """Whether the inner data infos hold ``instances`` (boxes)."""
        self.full_init()
        return self._ori_len > 0 and \
            'instances' in self.dataset.get_data_info(0)

    def base_gt_labels(self) -> np.ndarray:
        """Labels of the N base samples (classification)."""
        if self.is_detection:
            raise TypeError('a detection dataset has no per-image label; '
                            'use source_annotation(i) for its boxes.')
        if hasattr(self.dataset, 'get_gt_labels'):
            return np.asarray(self.dataset.get_gt_labels(), dtype=np.int64)
        return np.array([self.dataset.get_cat_ids(i)[0]
                         for i in range(self.num_base)], dtype=np.int64)

    @force_full_init
    def get_gt_labels(self) -> np.ndarray:
        """Labels of every index (slots: their source's label)."""
        base = self.base_gt_labels()
        slots = [base[self._resolve(self._ori_len + j)[0]]
                 for j in range(self.num_slots)]
        return np.concatenate([base, np.asarray(slots, dtype=np.int64)])

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        return self.dataset.get_cat_ids(self._resolve(idx)[0])

    def fingerprint(self) -> str:
        """Identifies the base data: class names, size and labels, or for
        detection every image's boxes and labels (computed once; the base
        data never changes)."""
        if self._fingerprint is None:
            h = hashlib.sha1()
            h.update(repr(self.CLASSES).encode())
            h.update(str(self.num_base).encode())
            if self.is_detection:
                for i in range(self.num_base):
                    ann = self.source_annotation(i)
                    h.update(ann['labels'].tobytes())
                    h.update(ann['bboxes'].round(2).tobytes())
                    h.update(ann['ignore_flags'].tobytes())
            else:
                h.update(self.base_gt_labels().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def source_annotation(self, idx: int) -> dict:
        """Base sample ``idx``'s annotation as generators take it:
        ``gt_label`` and ``class_name``; for detection also ``bboxes``
        ((K, 4) float32 xyxy, original pixels), ``labels`` (K,),
        ``ignore_flags`` (K,); then ``gt_label`` is the most frequent class
        (-1 without boxes) and ``class_name`` joins the classes present."""
        classes = self.CLASSES
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

    def __repr__(self) -> str:
        size = f'{self._ori_len}+{self.num_slots}' \
            if self._fully_initialized else 'not initialised'
        return (f'TADADataset(mode={self.mode}, size={size}, '
                f'variants={len(self._variants)}, '
                f'dataset={type(self.dataset).__name__})')
