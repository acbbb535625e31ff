"""Fixed-capacity dataset wrapper that serves variants of lagging samples."""
import copy
import hashlib
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine import dist
from mmengine.dataset import force_full_init
from mmengine.logging import print_log

from mmtada.registry import DATASETS
from mmtada.utils.fileio import atomic_write_json
from .sample_reader import SampleReader, leaves_of

MODES = ('add', 'replace')


def served_info(reader: SampleReader, source: int,
                variant: Optional[int] = None, cache=None) -> dict:
    """The data info base sample ``source`` is served with, or with
    ``variant`` its variant from ``cache``: the source's (labels, boxes,
    size), with the image swapped: an in-memory image in the source's
    layout, channels and depth; a file by the variant's path, read by the
    pipeline exactly as the source is."""
    info = reader.data_info(source)
    if variant is None:
        return info
    if 'img' in info:
        img = cache.read(source, variant, unchanged=True)
        if np.ndim(info['img']) == 3 and img.ndim == 2:
            img = img[..., None]
        elif img.ndim == 3 and reader.in_memory_channel_order == 'rgb':
            img = np.concatenate([img[..., 2::-1], img[..., 3:]], 2)
        info['img'] = np.ascontiguousarray(img)
    else:
        info['img_path'] = cache.path(source, variant)
    return info


@DATASETS.register_module()
class TADADataset:
    """Wraps a training set; after selection it also serves the variants.

    **Length is fixed when built**, so ``DefaultSampler``, the loop's
    ``max_iters`` and epoch-to-iteration schedulers stay correct:

    - ``mode='add'`` (TADA): ``len = N + num_slots``. Index ``i < N`` is base
      sample ``i``. Slot ``j`` (index ``N + j``) serves, **before
      selection**, base sample ``perm[j % N]`` for a permutation seeded by
      ``seed`` (extra uniform draws of the real data); **after**
      :meth:`set_variants`, variant ``(j + e * num_slots) % V`` of the
      ``V`` variants ordered by (variant index, source index) in epoch
      ``e`` (:meth:`set_epoch`): the slots take the variants in turn, so
      every variant is served equally often over the epochs, whether
      ``V`` is below ``num_slots`` (cycled within an epoch) or above it
      (each epoch the next ``num_slots`` of them).
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
    from), ``is_synthetic`` and ``variant_idx`` (its cache id; -1: real).
    Variants go through the **inner dataset's** pipeline; in-memory images
    (mmpretrain's CIFAR datasets hold RGB arrays) are given in
    ``in_memory_channel_order``, file-based ones by path, read by the
    pipeline exactly as the originals are.

    The wrapped dataset is an mmengine ``BaseDataset`` (mmpretrain's and
    mmdet's datasets) or a ``ConcatDataset`` / ``RepeatDataset`` /
    ``ClassBalancedDataset`` of them (VOC's 2007 + 2012, LVIS): every
    index resolves to its distinct *base sample* and is read with that
    sample's own dataset (data info, pipeline, ``max_refetch``) through
    :attr:`reader`, a :class:`SampleReader`, which also gives generation
    the base samples. Statistics, selection and variants are per base
    sample (a repeated image is one sample). Setting :attr:`pipeline` sets
    it on every leaf dataset (pipeline-switch hooks).

    :meth:`set_variants` changes state in *this* process only: DataLoader
    workers hold a copy, so they must be restarted
    (``LearningLagHook`` drops the loader's iterator). Every rank must call
    it with the same arguments. The epoch of :meth:`set_epoch` lives in
    shared memory: persistent workers see it without a restart, provided
    it is set before the epoch's loader iterator starts (as
    ``LearningLagHook.before_train_epoch`` does), so every rank, worker
    and resumed run serves the same variant at an index in an epoch.

    Args:
        dataset (BaseDataset | dict): the training set, or its config.
        num_slots (int, optional): synthetic capacity for ``mode='add'``.
            Defaults to ``round(slot_ratio * N)``.
        slot_ratio (float): capacity relative to N when ``num_slots`` is
            None; the paper's setting (about 35% selected, 5 variants each)
            needs about 1.75. Defaults to 1.75.
        mode (str): ``'add'`` or ``'replace'``. Defaults to ``'add'``.
        replace_prob (float): for ``mode='replace'``. Defaults to 0.5.
        in_memory_channel_order (str): channel order of in-memory ``img``
            arrays of the inner dataset, ``'rgb'`` or ``'bgr'``. Defaults
            to ``'rgb'``.
        seed (int): seeds the pre-selection slot permutation. Defaults
            to 0.
        lazy_init (bool): as in mmengine's wrappers. Defaults to False.
    """

    def __init__(self,
                 dataset: Union[object, dict],
                 num_slots: Optional[int] = None,
                 slot_ratio: float = 1.75,
                 mode: str = 'add',
                 replace_prob: float = 0.5,
                 in_memory_channel_order: str = 'rgb',
                 seed: int = 0,
                 lazy_init: bool = False):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        leaves_of(dataset)  # one clear error for what it cannot wrap
        if mode not in MODES:
            raise ValueError(f"TADADataset mode must be one of {MODES}, got "
                             f"'{mode}'.")
        if not 0 <= replace_prob <= 1:
            raise ValueError('replace_prob must be in [0, 1].')
        self.dataset = dataset
        self.reader = SampleReader(dataset, in_memory_channel_order)
        self.mode = mode
        self.replace_prob = replace_prob
        self.seed = seed
        self._num_slots = num_slots
        self._slot_ratio = slot_ratio
        self._metainfo = dataset.metainfo
        self._variants: List[Tuple[int, int]] = []
        self._by_source = {}
        self._cache = None
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
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
        self._base = self.reader.base_indices()
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
        """Real items per epoch: the wrapped dataset's length (a
        ``RepeatDataset`` counts its repeats; ``len(reader)`` counts each
        distinct sample once)."""
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
        """Serve ``variants`` (pairs of source and variant index; variant
        None serves the source itself, where a filter dropped all of its
        variants) from ``cache`` (a :class:`VariantCache` holding all of
        them)."""
        self.full_init()
        # Ordered by variant index first: an epoch that serves fewer than
        # all takes variants of every sample before a second of any.
        variants = sorted(
            ((int(s), None if v is None else int(v)) for s, v in variants),
            key=lambda p: (-1 if p[1] is None else p[1], p[0]))
        n = len(self.reader)
        for s, _ in variants:
            if not 0 <= s < n:
                raise IndexError(
                    f'variant of sample {s} does not fit a dataset of '
                    f'{n}: the selection was made on another dataset; rerun '
                    'the selection for this one.')
        self._cache = cache
        self._variants = variants
        if self.is_detection:
            ids = [self.reader.data_info(i).get('img_id', 0)
                   for i in range(n)]
            self._first_img_id = 1 + max(
                [i for i in ids if isinstance(i, int)], default=0)
        self._by_source = {}
        self._position = {p: i for i, p in enumerate(variants)}
        for s, v in variants:
            self._by_source.setdefault(s, []).append(v)
        if self.mode == 'add' and len(variants) > self.num_slots > 0:
            print_log(
                f'TADADataset: {len(variants)} variants in {self.num_slots} '
                f'slots: each epoch serves the next {self.num_slots} in '
                f'turn (each variant once in '
                f'{len(variants) / self.num_slots:.2f} epochs).',
                logger='current')

    def set_epoch(self, epoch: int) -> None:
        """The epoch about to be served (every process of this dataset,
        workers included, sees it): the slots rotate through the
        variants."""
        self._epoch.fill_(int(epoch))

    def state_digest(self) -> str:
        """A hash of what every index serves: the base data, length, slot
        seed and the served variants with their cache checksums (not the
        cache's path). Equal on every rank of a run, and after a resume."""
        self.full_init()
        h = hashlib.sha1(self.reader.fingerprint().encode())
        h.update(f'{self.mode}/{len(self)}/{self.seed}'.encode())
        listed = self._cache.listed() if self._variants else {}
        for pair in self._variants:
            h.update(repr((pair, sorted(listed.get(pair, ())))).encode())
        return h.hexdigest()

    def check_selection(self, selection, source: str) -> None:
        """Refuse a :class:`~mmtada.selection.Selection` (from ``source``)
        made on another dataset."""
        self.full_init()
        selection.check_dataset(self.reader.fingerprint(), len(self.reader),
                                source)

    def check_same_state(self, record: Optional[str] = None) -> str:
        """Collective: refuse unless every rank serves the same data (the
        :meth:`state_digest`, e.g. after :meth:`set_variants`); rank 0
        writes the digest and the rank count to ``record``
        (``dataset_state.json``). Returns the digest."""
        digests = dist.all_gather_object(self.state_digest())
        if len(set(digests)) > 1:
            raise RuntimeError(
                'TADA: the ranks serve different data after generation '
                f'(state digests {sorted(set(d[:12] for d in digests))}): '
                'cache_dir must be one folder that every rank sees (on '
                'several machines, a shared file system).')
        print_log(f'TADA dataset state {digests[0][:16]} on {len(digests)} '
                  'rank(s)', logger='current')
        if record is not None and dist.is_main_process():
            atomic_write_json(record, dict(digest=digests[0],
                                           ranks=len(digests)))
        return digests[0]

    def _resolve(self, idx: int) -> Tuple[int, Optional[int]]:
        """(source index, variant index or None) served at ``idx``,
        the replace-mode draw aside."""
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f'index {idx} out of range for {len(self)}')
        if idx < self._ori_len:
            return int(self._base[idx]), None
        j = idx - self._ori_len
        if self._variants:
            turn = int(self._epoch) * self.num_slots
            return self._variants[(j + turn) % len(self._variants)]
        return int(self._base[self._slot_perm[j % self._ori_len]]), None

    def _info(self, idx: int, source: int, variant: Optional[int]) -> dict:
        info = served_info(self.reader, source, variant, self._cache)
        if variant is not None and 'instances' in info:
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
        data = self.reader.pipeline(source)(info)
        if isinstance(data, dict) and hasattr(data.get('data_samples'),
                                              'set_metainfo'):
            data['data_samples'].set_metainfo(
                dict(sample_idx=idx, source_idx=source,
                     is_synthetic=variant is not None,
                     variant_idx=-1 if variant is None else variant))
        return data

    def __getitem__(self, idx: int):
        """As mmengine's ``BaseDataset``: in training, a sample whose
        pipeline returns None is replaced by a random one, up to the
        data's ``max_refetch`` times."""
        if not self._fully_initialized:
            self.full_init()
        leaf = self.reader.leaves[0]
        if leaf.test_mode:
            data = self.prepare_data(idx)
            if data is None:
                raise RuntimeError('the test pipeline returned None for '
                                   f'index {idx}')
            return data
        for _ in range(leaf.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            idx = np.random.randint(0, len(self))
        raise RuntimeError(
            f'Cannot find a valid image after {leaf.max_refetch} '
            'tries; check the data and the pipeline.')

    @property
    def pipeline(self):
        """The data's pipeline (of its first leaf dataset). Setting it sets
        every leaf's: mmdet's ``PipelineSwitchHook`` and mmpretrain's
        ``SwitchRecipeHook`` switch ``train_dataloader.dataset.pipeline``
        (they restart the loader's workers themselves)."""
        return self.reader.leaves[0].pipeline

    @pipeline.setter
    def pipeline(self, pipeline) -> None:
        for leaf in self.reader.leaves:
            leaf.pipeline = pipeline

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
        return self.reader.is_detection

    @force_full_init
    def get_gt_labels(self) -> np.ndarray:
        """Labels of every index (slots: their source's label)."""
        base = self.reader.gt_labels()
        return base[[self._resolve(i)[0] for i in range(len(self))]]

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        leaf, local = self.reader.locate(self._resolve(idx)[0])
        return leaf.get_cat_ids(local)

    # -- refused, as mmengine's ConcatDataset/RepeatDataset refuse it ------
    def get_subset_(self, indices: Union[List[int], int]) -> None:
        """Not supported: see :meth:`get_subset`."""
        raise NotImplementedError(self._no_subset())

    def get_subset(self, indices: Union[List[int], int]):
        """Not supported: the selection, the statistics and the variant
        cache are indexed by the base samples of the whole wrapped set,
        and the slots are sized to it, so a subset of the wrapper would
        be ambiguous. Subset the wrapped dataset first, then wrap it."""
        raise NotImplementedError(self._no_subset())

    def _no_subset(self) -> str:
        return (f'`{type(self).__name__}` does not support `get_subset` and '
                '`get_subset_`: its selection, statistics and variant cache '
                'are indexed by the samples of the whole wrapped set, and its '
                'slots are sized to it. Take the subset of the wrapped '
                'dataset first (its `indices=` argument, or its own '
                '`get_subset`), then wrap that in `TADADataset`.')

    def __repr__(self) -> str:
        size = f'{self._ori_len}+{self.num_slots}' \
            if self._fully_initialized else 'not initialised'
        return (f'TADADataset(mode={self.mode}, size={size}, '
                f'variants={len(self._variants)}, '
                f'dataset={type(self.dataset).__name__})')


def tada_dataset_path(dataset) -> list:
    """The datasets from ``dataset`` down to the :class:`TADADataset` in it
    (the last one): itself, or inside other wrappers (mmdet's
    ``MultiImageMixDataset``, a ``RepeatDataset``, a part of a
    ``ConcatDataset``); empty when it holds none."""
    if isinstance(dataset, TADADataset):
        return [dataset]
    children = list(getattr(dataset, 'datasets', None) or [])
    if getattr(dataset, 'dataset', None) is not None:
        children.append(dataset.dataset)
    for child in children:
        path = tada_dataset_path(child)
        if path:
            return [dataset] + path
    return []


def find_tada_dataset(dataset) -> TADADataset:
    """The last of :func:`tada_dataset_path`; one clear error when the
    train loader's ``dataset`` holds no TADADataset."""
    path = tada_dataset_path(dataset)
    if path:
        return path[-1]
    raise TypeError(
        'LearningLagHook needs the training set wrapped in '
        f'mmtada.TADADataset, got {type(dataset).__name__}. Wrap it: '
        "train_dataloader = dict(dataset=dict(_delete_=True, "
        "type='mmtada.TADADataset', dataset=<your dataset>)); with "
        'MultiImageMixDataset wrap its inner dataset.')


def check_class_balancing(loader, wrapper: TADADataset) -> None:
    """Refuse class balancing above ``wrapper`` in ``mode='add'`` (a
    ``ClassBalancedDataset`` around it, mmdet's ``ClassAwareSampler``):
    its repeat factors come once from ``get_cat_ids``, and after selection
    the slots serve other samples, so it would repeat the wrong ones."""
    if wrapper.mode != 'add' or not wrapper.num_slots:
        return
    above = tada_dataset_path(loader.dataset)[:-1] + [
        loader.sampler, getattr(loader, 'batch_sampler', None)]
    found = {type(x).__name__ for x in above} & {
        'ClassBalancedDataset', 'ClassAwareSampler'}
    if found:
        raise ValueError(
            f'{found.pop()} balances classes with repeat factors taken '
            "once from get_cat_ids, but after selection the TADADataset's "
            "slots serve other samples: set mode='replace' on the "
            'TADADataset (a selected sample is replaced by its variants, '
            'length and sources unchanged), or put ClassBalancedDataset '
            'inside the TADADataset.')
