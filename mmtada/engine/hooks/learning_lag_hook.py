"""Track per-sample learning lag, select the lagging samples, augment them."""
import copy
import json
import math
import os.path as osp
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from mmtada.datasets import TADADataset
from mmtada.engine.train_set_probe import TrainSetProbe
from mmtada.generators import (VariantCache, atomic_write_bytes,
                               check_writable, generate_variants,
                               variant_pairs)
from mmtada.registry import GENERATORS, HOOKS, SELECTION_RULES
from mmtada.selection import LagStats, Selection, select_samples
from mmtada.visualization import score_histogram, selection_grid

MODES = ('in_run', 'restart')
RECORD = ('auto', 'train', 'probe')
STATE_VERSION = 1


def find_tada_dataset(dataset) -> TADADataset:
    """The :class:`TADADataset` serving the train loader, itself or inside
    other wrappers (e.g. mmdet's ``MultiImageMixDataset``)."""
    found = dataset
    for _ in range(4):
        if isinstance(found, TADADataset):
            return found
        found = getattr(found, 'dataset', None)
    raise TypeError(
        'LearningLagHook needs the training set wrapped in '
        f'mmtada.TADADataset, got {type(dataset).__name__}. Wrap it: '
        "train_dataloader = dict(dataset=dict(_delete_=True, "
        "type='mmtada.TADADataset', dataset=<your dataset>)); with "
        'MultiImageMixDataset wrap its inner dataset.')


@HOOKS.register_module()
class LearningLagHook(Hook):
    """TADA: find the samples the model has not learned early, augment them.

    Until ``select_epoch`` it records, per base training sample (keyed by the
    ``source_idx``/``sample_idx`` in the data samples, never by sampler
    order), the epoch's loss, correctness, confidence and mean softmax
    outputs. With ``record='train'`` they come from the training forward
    itself (a forward hook on ``head_path``, fp32 even under AMP; no extra
    pass); with ``'probe'`` from an eval-mode pass with the test pipeline
    each ``probe_interval`` epochs (needed when Mixup/CutMix leave no hard
    labels in the forward); ``'auto'`` picks the probe when the data
    preprocessor has batch augments. Synthetic items are never recorded.

    At the end of ``select_epoch`` the ``rule`` picks the slow-learnable
    samples (on rank 0, broadcast, so every rank holds the same selection),
    ``<work_dir>/tada/selection.json`` is written and a one-line summary is
    logged; the runner's visualizer (TensorBoard, local files, ...) gets
    the histogram of the scores (``tada_score_histogram``) and, after
    generation, the highest-scoring samples beside their variants
    (``tada_hard_examples``, boxes drawn for detection). Then
    ``num_variants`` variants of each are made by
    ``generator`` (built only then and released after; split across
    ranks, into the variant cache, reused by later runs; the cost goes to
    ``<work_dir>/tada/generation.json``) and the :class:`TADADataset`
    serves them; the loader's iterator is dropped once so that persistent
    workers see the change.

    Modes: ``'in_run'`` continues training on the augmented data.
    ``'restart'`` (as the paper) is run by ``tools/train.py``: a first run
    to ``select_epoch`` writes the selection and stops; a second run from
    scratch for the full schedule gets ``selection=<path>`` and augments
    before its first epoch.

    **Ranks**: statistics are summed across ranks every epoch
    (collective, in ``after_train_epoch``); after generation the ranks
    compare their dataset state digests (collective) and stop if they
    differ; nothing collective runs in ``before_save_checkpoint`` (rank 0
    only). The cache folder is test-written in ``before_train``.
    **Resume**: the statistics, the selection and the hook's settings go
    into ``checkpoint['tada']`` as plain tensors and containers (loadable
    with ``weights_only=True``); on ``--resume`` the dataset state is
    rebuilt in ``before_train`` from the cache, generating nothing already
    made; resuming with other TADA settings is an error.

    Args:
        select_epoch (int | float, optional): the epoch after which to
            select; a float in (0, 1) is a fraction of ``max_epochs``.
            Defaults to 5% of the schedule (at least 1).
        rule (str | dict): ``'kmeans'`` (paper), ``'misclassified'``,
            ``'loss_quantile'``, or a config dict with ``type``.
        num_variants (int): k, variants per selected sample.
        generator (dict): generator config, e.g.
            ``dict(type='mmtada.Upsample')``.
        mode (str): ``'in_run'`` or ``'restart'``.
        selection (str, optional): apply this selection.json at the start
            instead of recording (the second run of ``'restart'``).
        cache_dir (str, optional): variant cache root; defaults to
            ``<work_dir>/tada/variants``. Must be visible to all ranks.
        seed (int): generation seed; with the same seed and settings the
            same variants.
        record (str): ``'auto'``, ``'train'`` or ``'probe'``.
        probe_interval (int): epochs between probes (``record='probe'``).
        probe_batch_size (int, optional): defaults to the training one.
        head_path (str): attribute path of the classification head.
    """
    priority = 'NORMAL'  # before CheckpointHook: state is synced when saved

    def __init__(self,
                 select_epoch: Optional[Union[int, float]] = None,
                 rule: Union[str, dict] = 'kmeans',
                 num_variants: int = 5,
                 generator: dict = dict(type='mmtada.Upsample'),
                 mode: str = 'in_run',
                 selection: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 seed: int = 0,
                 record: str = 'auto',
                 probe_interval: int = 1,
                 probe_batch_size: Optional[int] = None,
                 head_path: str = 'head'):
        if mode not in MODES:
            raise ValueError(f"LearningLagHook mode must be one of {MODES}, "
                             f"got '{mode}'.")
        if record not in RECORD:
            raise ValueError(f'LearningLagHook record must be one of '
                             f"{RECORD}, got '{record}'.")
        if int(num_variants) < 1:
            raise ValueError('num_variants must be >= 1.')
        rule_cfg = dict(type=rule) if isinstance(rule, str) else dict(rule)
        self.rule_name = rule_cfg['type'].split('.')[-1]
        self.rule = SELECTION_RULES.build(rule_cfg)
        self.generator_cfg = dict(generator)
        if GENERATORS.get(self.generator_cfg.get('type', '')) is None:
            raise KeyError(
                f"unknown generator {self.generator_cfg.get('type')!r}: use "
                f'one of {sorted(GENERATORS.module_dict)} (mmtada.<name>).')
        self.num_variants = int(num_variants)
        self.mode = mode
        self.selection_file = selection
        self.cache_dir = cache_dir
        self.seed = int(seed)
        self.record = record
        self.probe_interval = int(probe_interval)
        self.probe_batch_size = probe_batch_size
        self.head_path = head_path
        self._select_epoch_arg = select_epoch
        self.select_epoch: Optional[int] = None
        self.stats: Optional[LagStats] = None
        self.selection: Optional[Selection] = None
        self.generation: dict = {}
        self._resumed: Optional[dict] = None
        self._captured: Optional[torch.Tensor] = None
        self._handle = None
        self._probe = None

    # -- set-up -------------------------------------------------------------
    def signature(self) -> dict:
        """The settings a resumed run must share with the original."""
        return dict(
            rule=self.rule_name, rule_cfg=self.rule.config(),
            num_variants=self.num_variants,
            generator=self.generator_cfg, seed=self.seed,
            select_epoch=self.select_epoch, mode=self.mode)

    def _resolve_select_epoch(self, max_epochs: int) -> int:
        arg = self._select_epoch_arg
        if arg is None:
            epoch = max(1, round(0.05 * max_epochs))
        elif isinstance(arg, float) and 0 < arg < 1:
            epoch = max(1, math.ceil(arg * max_epochs))
        else:
            epoch = int(arg)
        if not 1 <= epoch <= max_epochs:
            raise ValueError(
                f'select_epoch={arg} is outside the schedule of {max_epochs} '
                'epochs: set select_epoch to an epoch in [1, max_epochs] '
                '(about 5-10% of the schedule, as the paper).')
        return epoch

    def _work(self, runner, *parts) -> str:
        return osp.join(runner.work_dir, 'tada', *parts)

    def _cache_root(self, runner) -> str:
        return self.cache_dir or self._work(runner, 'variants')

    def before_train(self, runner) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise TypeError(
                'LearningLagHook needs an epoch-based loop: set '
                'train_cfg = dict(by_epoch=True, max_epochs=...).')
        self.dataset = find_tada_dataset(runner.train_dataloader.dataset)
        self.dataset.full_init()
        self.select_epoch = self._resolve_select_epoch(runner.max_epochs)
        self._setup(runner)
        check_writable(self._cache_root(runner))
        if self._resumed is not None:
            self._restore(runner, self._resumed)
            self._resumed = None
        elif self.selection_file is not None:
            selection = Selection.load(self.selection_file)
            self._check_dataset(selection, self.selection_file)
            self.selection = selection
            selection.dump(self._work(runner, 'selection.json'))
            print_log(selection.summary(), logger='current')
        if self.selection is None:
            if self._records(runner) == 'train':
                self._attach(runner)
        elif self.mode == 'restart' and self.selection_file is None:
            # The selection run of restart mode had already selected.
            runner.train_loop.stop_training = True
        else:
            self._augment(runner)

    def _setup(self, runner) -> None:
        """Check the model against the data; make the empty statistics."""
        self.labels = torch.from_numpy(self.dataset.base_gt_labels())
        classes = self.dataset.CLASSES
        num_classes = len(classes) if classes else int(self.labels.max()) + 1
        head = self._head(runner, required=self._records(runner) == 'train')
        head_classes = getattr(head, 'num_classes', num_classes)
        if head_classes != num_classes:
            raise ValueError(self._class_count_error(head_classes,
                                                     num_classes))
        self.stats = LagStats(self.dataset.num_base, num_classes)

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) \
            else runner.model

    def _records(self, runner) -> str:
        if self.record != 'auto':
            return self.record
        pre = getattr(self._model(runner), 'data_preprocessor', None)
        return 'probe' if getattr(pre, 'batch_augments', None) else 'train'

    def _head(self, runner, required: bool = True):
        module = self._model(runner)
        for name in self.head_path.split('.'):
            if not hasattr(module, name):
                if not required:
                    return None
                raise AttributeError(
                    f"LearningLagHook: the model has no '{self.head_path}'; "
                    'set head_path to the module that outputs class scores, '
                    "or record='probe'.")
            module = getattr(module, name)
        return module

    @staticmethod
    def _class_count_error(model_classes: int, data_classes: int) -> str:
        return (f'the model outputs {model_classes} classes but the dataset '
                f'has {data_classes}: set num_classes of the head and of the '
                'data preprocessor to the number of classes of the dataset.')

    def _attach(self, runner) -> None:
        head = self._head(runner)

        def capture(module, args, output):
            if module.training:
                self._captured = output.detach()

        self._handle = head.register_forward_hook(capture)

    def _detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._captured = None

    # -- recording ----------------------------------------------------------
    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self._handle is None or self._captured is None:
            return
        logits, self._captured = self._captured, None
        samples = data_batch['data_samples']
        if logits.dim() != 2 or len(logits) != len(samples):
            raise RuntimeError(
                f"LearningLagHook: '{self.head_path}' gave outputs of shape "
                f'{tuple(logits.shape)} for {len(samples)} samples; point '
                "head_path at the module whose output is (batch, classes), "
                "or use record='probe'.")
        if logits.shape[1] != self.stats.num_classes:
            raise ValueError(self._class_count_error(
                logits.shape[1], self.stats.num_classes))
        keep = [not s.metainfo.get('is_synthetic', False) for s in samples]
        if not any(keep):
            return
        keep_t = torch.tensor(keep, device=logits.device)
        idx = torch.tensor([
            s.metainfo.get('source_idx', s.metainfo['sample_idx'])
            for s, k in zip(samples, keep) if k
        ])
        labels = torch.cat(
            [s.gt_label.view(-1)[:1] for s, k in zip(samples, keep) if k])
        self.stats.update(idx, F.log_softmax(logits[keep_t].float(), 1),
                          labels)

    def after_train_epoch(self, runner) -> None:
        if self.selection is not None:
            return
        epoch = runner.epoch + 1  # epochs completed
        if self._records(runner) == 'probe':
            if epoch % self.probe_interval and epoch != self.select_epoch:
                return
            if self._probe is None:
                self._probe = TrainSetProbe(runner, self.dataset.dataset,
                                            self.probe_batch_size)
            print_log(f'TADA probe of the training set after epoch {epoch}',
                      logger='current')
            self._probe.run(runner.model, self._consume)
        self.stats.end_epoch(epoch)
        if epoch >= self.select_epoch:
            self._select(runner, epoch)

    def _consume(self, outputs) -> None:
        """Add one probe batch (classification data samples)."""
        idx = torch.tensor([o.metainfo['sample_idx'] for o in outputs])
        labels = torch.cat([o.gt_label for o in outputs])
        scores = torch.stack([o.pred_score for o in outputs])
        self.stats.update(idx, scores.float().clamp_min(1e-12).log(), labels)

    # -- selection and augmentation ------------------------------------------
    def _make_selection(self, epoch: int) -> Selection:
        return select_samples(
            self.rule, self.rule_name, self.stats.latest(self.labels),
            self.dataset.CLASSES, epoch, self.dataset.fingerprint())

    def _select(self, runner, epoch: int) -> None:
        self._detach()
        payload = [None]
        if dist.is_main_process():
            selection = self._make_selection(epoch)
            selection.dump(self._work(runner, 'selection.json'))
            payload = [selection.to_dict()]
            chosen = np.zeros(selection.num_samples, bool)
            chosen[selection.indices] = True
            runner.visualizer.add_image(
                'tada_score_histogram', score_histogram(
                    selection.scores, chosen,
                    f'TADA {selection.rule} scores, epoch {epoch}'),
                step=epoch)
        dist.broadcast_object_list(payload, src=0)
        self.selection = Selection.from_dict(payload[0])
        print_log(self.selection.summary(), logger='current')
        if not self.selection.indices:
            print_log(
                'TADA: the rule selected no sample, so nothing is augmented '
                '(the model may already fit every sample at this epoch: try '
                'an earlier select_epoch).', logger='current', level=30)
        if self.mode == 'restart':
            print_log(
                'TADA restart mode: selection written to '
                f"{self._work(runner, 'selection.json')}; stopping this run. "
                'The training from scratch on the augmented data runs with '
                'that selection (tools/train.py does it).',
                logger='current')
            runner.train_loop.stop_training = True
            return
        self._augment(runner)

    def _augment(self, runner) -> None:
        # Built here and released after: diffusion weights must not hold
        # GPU memory through training.
        generator = GENERATORS.build(copy.deepcopy(self.generator_cfg))
        cache = VariantCache.for_run(self._cache_root(runner), self.dataset,
                                     generator, self.seed)
        self.generation = generate_variants(
            generator, cache, self.dataset, self.selection.indices,
            self.num_variants, self.seed)
        del generator
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print_log(
            f"TADA generation: {self.generation['total']} variants "
            f"({self.generation['generated']} made, "
            f"{self.generation['reused']} reused) in "
            f"{self.generation['seconds']:.1f}s, cache {cache.dir}",
            logger='current')
        if dist.is_main_process():
            self._record_generation(runner, cache)
            if self.selection.indices:
                runner.visualizer.add_image(
                    'tada_hard_examples', selection_grid(
                        self.dataset, cache, self.selection,
                        self.num_variants), step=self.selection.epoch)
        self.dataset.set_variants(
            cache, variant_pairs(self.selection.indices, self.num_variants))
        self._check_same_state()
        # Persistent workers hold a copy of the dataset: restart them once.
        runner.train_dataloader._iterator = None

    def _check_same_state(self) -> None:
        """Collective: every rank must now serve the same data."""
        digests = dist.all_gather_object(self.dataset.state_digest())
        if len(set(digests)) > 1:
            raise RuntimeError(
                'TADA: the ranks serve different data after generation '
                f'(state digests {sorted(set(d[:12] for d in digests))}): '
                'cache_dir must be one folder that every rank sees (on '
                'several machines, a shared file system).')
        print_log(f'TADA dataset state {digests[0][:16]} on {len(digests)} '
                  'rank(s)', logger='current')

    def _record_generation(self, runner, cache) -> None:
        """``<work_dir>/tada/generation.json``: what this run's variants
        cost, summed over the runs of one work dir (a resumed run adds
        what it made)."""
        path = self._work(runner, 'generation.json')
        record = dict(cache=cache.dir, settings=cache.settings,
                      selected=len(self.selection.indices),
                      num_variants=self.num_variants,
                      total=self.generation['total'], generated=0,
                      seconds=0.0)
        if osp.exists(path):
            with open(path) as f:
                old = json.load(f)
            if old.get('cache') == cache.dir:
                if not self.generation['generated']:
                    return  # all reused: the record stands
                record.update(generated=old['generated'],
                              seconds=old['seconds'])
        record['generated'] += self.generation['generated']
        record['seconds'] += self.generation['seconds']
        atomic_write_bytes(path, json.dumps(record, indent=1,
                                            default=str).encode())

    def _check_dataset(self, selection: Selection, source: str) -> None:
        selection.check_dataset(self.dataset.fingerprint(),
                                self.dataset.num_base, source)

    # -- checkpoint ----------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # Rank 0 only (Runner.save_checkpoint is master_only): no collectives.
        checkpoint['tada'] = dict(
            version=STATE_VERSION,
            signature=self.signature(),
            stats=self.stats.state_dict() if self.stats else None,
            selection=self.selection.to_dict() if self.selection else None,
            generation=dict(self.generation))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Runs on all ranks inside load_or_resume, before before_train.
        if runner._resume and 'tada' in checkpoint:
            self._resumed = checkpoint['tada']

    def _restore(self, runner, state: dict) -> None:
        if state.get('version') != STATE_VERSION:
            raise ValueError(
                f"checkpoint TADA state version {state.get('version')} is "
                f'not {STATE_VERSION}: resume with the mmtada that wrote it.')
        mine, theirs = self.signature(), state['signature']
        diff = sorted(k for k in mine if mine[k] != theirs.get(k))
        if diff:
            raise ValueError(
                'resuming with TADA settings that differ from the '
                f'checkpoint\'s in {diff} (checkpoint: '
                f'{ {k: theirs.get(k) for k in diff} }): resume with the '
                'original settings, or start a new work_dir.')
        if state['stats'] is not None:
            self.stats.load_state_dict(state['stats'])
        if state['selection'] is not None:
            self.selection = Selection.from_dict(state['selection'])
            self._check_dataset(self.selection, 'the checkpoint')
            print_log('TADA resumed: ' + self.selection.summary(),
                      logger='current')
