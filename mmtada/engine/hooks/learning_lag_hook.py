"""Track per-sample learning lag, select the lagging samples, augment them."""
import copy
import math
from typing import Optional, Tuple, Union

import numpy as np
import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from mmtada.datasets.tada_dataset import (check_class_balancing,
                                          find_tada_dataset)
from mmtada.engine.divergence import check_finite
from mmtada.engine.head_recorder import HeadRecorder, class_count_error
from mmtada.engine.train_set_probe import TrainSetProbe
from mmtada.generators import check_writable, make_variants
from mmtada.registry import (GENERATORS, HOOKS, SELECTION_RULES,
                             VARIANT_FILTERS)
from mmtada.selection import LagStats, Selection, select_samples
from mmtada.selection.auto_epoch import (DEFAULT_FRACTION, DEFAULT_RANGE,
                                         decide, epoch_range)
from mmtada.selection.label_noise import EXCLUDE, guard
from mmtada.selection.trajectories import save_trajectories
from mmtada.utils import RunLayout, atomic_write_json
from mmtada.visualization import score_histogram, selection_grid

RECORD = ('auto', 'train', 'probe')
STATE_VERSION = 1


@HOOKS.register_module()
class LearningLagHook(Hook):
    """TADA: find the samples the model has not learned early, augment them.

    Until ``select_epoch`` it records, per base training sample (keyed by the
    ``source_idx``/``sample_idx`` in the data samples, never by sampler
    order), the epoch's loss, correctness, confidence and mean softmax
    outputs. With ``record='train'`` they come from the training forward
    itself (:class:`~mmtada.engine.HeadRecorder` on ``head_path``, fp32
    even under AMP; no extra pass); with ``'probe'`` from an eval-mode pass
    with the test pipeline each ``probe_interval`` epochs
    (:class:`~mmtada.engine.TrainSetProbe`; needed when Mixup/CutMix leave
    no hard labels in the forward); ``'auto'`` picks the probe when the
    data preprocessor has batch augments. Synthetic items are never
    recorded.

    At the end of ``select_epoch`` the ``rule`` picks the slow-learnable
    samples (on rank 0, broadcast, so every rank holds the same selection),
    ``<work_dir>/tada/selection.json`` is written and a one-line summary is
    logged; the runner's visualizer (TensorBoard, local files, ...) gets
    the histogram of the scores (``tada_score_histogram``) and, after
    generation, the highest-scoring samples beside their variants
    (``tada_hard_examples``, boxes drawn for detection). Then
    :func:`~mmtada.generators.make_variants` makes ``num_variants``
    variants of each with ``generator`` (split across ranks, into the
    variant cache, reused by later runs; the cost goes to
    ``<work_dir>/tada/generation.json``) and the :class:`TADADataset`
    serves them; the loader's iterator is dropped once so that persistent
    workers see the change.

    Restart mode (the paper's protocol) is :func:`mmtada.apis.train`'s:
    it runs this hook with ``stop_after_selection=True`` to select, then
    from scratch with ``selection=<path>``.

    **Ranks**: statistics are summed across ranks every epoch
    (collective, in ``after_train_epoch``); after generation the ranks
    compare their dataset state digests (collective) and stop if they
    differ, and rank 0 writes the digest to
    ``<work_dir>/tada/dataset_state.json``; nothing collective runs in
    ``before_save_checkpoint`` (rank 0 only). The cache folder is
    test-written in ``before_train``.
    **Resume**: the statistics, the selection and the hook's settings go
    into ``checkpoint['tada']`` as plain tensors and containers (loadable
    with ``weights_only=True``); on ``--resume`` the dataset state is
    rebuilt in ``before_train`` from the cache, generating nothing already
    made; resuming with other TADA settings is an error.

    The **separating epoch** can be found by itself: with
    ``select_epoch='auto'`` the hook selects at the first epoch in
    ``auto_range`` whose drop in training error falls below
    ``knee_fraction`` of the largest drop so far (USEFUL's "where the
    decrease of the training error starts to slow";
    :mod:`mmtada.selection.auto_epoch`), at the range's end if none does.
    The **label-noise guard** keeps likely-mislabeled samples out of the
    augmentation (``exclude='aum'``: area under the margin below
    ``aum_threshold``; ``exclude_top=q``: the hardest q of each class;
    :mod:`mmtada.selection.label_noise`); a selection that selects nearly
    everything or nothing, or whose rule could not split a class, logs one
    warning naming the remedy. Each sample's per-epoch loss, correctness and
    margin up to the selection go to ``<work_dir>/tada/trajectories.npz``.

    Args:
        select_epoch (int | float | str, optional): the epoch after which
            to select; a float in (0, 1) is a fraction of ``max_epochs``;
            ``'auto'``: found from the error curve. Defaults to None: 5% of
            the schedule (at least 1).
        auto_range (tuple): ``select_epoch='auto'``'s (min, max) fractions
            of the schedule. Defaults to (0.03, 0.10).
        knee_fraction (float): ``'auto'``: a drop below this fraction of
            the largest one is the knee. Defaults to 0.5.
        exclude (str, optional): the label-noise guard, ``'aum'`` (None:
            off). Defaults to None.
        aum_threshold (float | str): ``exclude='aum'`` flags AUM below it;
            ``'auto'``: the ``aum_quantile`` of a wrong label's AUM.
            Defaults to ``'auto'``.
        aum_quantile (float): Defaults to 0.5 (Pleiss et al.'s 0.99 flags
            every unlearned sample this early in training).
        exclude_top (float, optional): also flag the top fraction of each
            class by loss. Defaults to None.
        rule (str | dict): ``'kmeans'`` (paper), ``'misclassified'``,
            ``'loss_quantile'``, or a config dict with ``type``. Defaults
            to ``'kmeans'``.
        num_variants (int): k, variants per selected sample. Defaults to 5.
        generator (dict): generator config. Defaults to
            ``dict(type='mmtada.Upsample')`` (exact copies).
        stop_after_selection (bool): stop training once selected (the
            selection run of restart mode). Defaults to False.
        selection (str, optional): apply this selection.json at the start
            instead of recording (the second run of restart mode). Defaults
            to None.
        cache_dir (str, optional): variant cache root, seen by all ranks.
            Defaults to None: ``<work_dir>/tada/variants``.
        seed (int): generation seed; with the same seed and settings the
            same variants. Defaults to 0.
        record (str): ``'auto'``, ``'train'`` or ``'probe'``. Defaults to
            ``'auto'``.
        probe_interval (int): epochs between probes (``record='probe'``).
            Defaults to 1.
        probe_batch_size (int, optional): Defaults to None: the training
            batch size.
        head_path (str): attribute path of the classification head.
            Defaults to ``'head'``.
        variant_filter (dict, optional): judges each variant after
            generation, e.g. ``dict(type='mmtada.LabelAgreement',
            min_ratio=0.5, max_tries=3)``: scored by the model being
            trained (eval mode, test pipeline) or a ``checkpoint``; a
            rejected variant is made again with its next seed, then
            dropped. Each rank judges its share; the verdicts go into the
            checkpoint, so a resumed run rescores and remakes nothing.
            Defaults to None (every variant served).
        mode (str): only ``'in_run'`` here; ``'restart'`` is read by
            :func:`mmtada.apis.train` (``tools/train.py``), which runs
            the two runs. Defaults to ``'in_run'``.
    """
    priority = 'NORMAL'  # before CheckpointHook: state is synced when saved

    def __init__(self,
                 select_epoch: Optional[Union[int, float, str]] = None,
                 rule: Union[str, dict] = 'kmeans',
                 num_variants: int = 5,
                 generator: dict = dict(type='mmtada.Upsample'),
                 stop_after_selection: bool = False,
                 selection: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 seed: int = 0,
                 record: str = 'auto',
                 probe_interval: int = 1,
                 probe_batch_size: Optional[int] = None,
                 head_path: str = 'head',
                 variant_filter: Optional[dict] = None,
                 auto_range: Tuple[float, float] = DEFAULT_RANGE,
                 knee_fraction: float = DEFAULT_FRACTION,
                 exclude: Optional[str] = None,
                 aum_threshold: Union[float, str] = 'auto',
                 aum_quantile: float = 0.5,
                 exclude_top: Optional[float] = None,
                 mode: str = 'in_run'):
        if mode == 'restart':
            raise ValueError(
                "mode='restart' (select, then train from scratch) is two "
                'runs, which mmtada.apis.train runs: train with '
                'python tools/train.py CONFIG (or call '
                "mmtada.apis.train(cfg)), or set mode='in_run'.")
        if mode != 'in_run':
            raise ValueError("LearningLagHook mode must be 'in_run' or "
                             f"'restart', got '{mode}'.")
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
        self.variant_filter_cfg = None if variant_filter is None \
            else dict(variant_filter)
        if self.variant_filter_cfg is not None:
            VARIANT_FILTERS.build(copy.deepcopy(self.variant_filter_cfg))
        self.stop_after_selection = bool(stop_after_selection)
        self.selection_file = selection
        self.cache_dir = cache_dir
        self.seed = int(seed)
        self.record = record
        self.probe_interval = int(probe_interval)
        self.probe_batch_size = probe_batch_size
        self.head_path = head_path
        if exclude not in EXCLUDE:
            raise ValueError(f'exclude must be one of {EXCLUDE}, got '
                             f'{exclude!r}.')
        self.exclude = exclude
        self.aum_threshold = aum_threshold if aum_threshold == 'auto' \
            else float(aum_threshold)
        self.aum_quantile = float(aum_quantile)
        self.exclude_top = exclude_top
        self.auto_range = tuple(auto_range)
        self.knee_fraction = float(knee_fraction)
        self._select_epoch_arg = select_epoch
        self.select_epoch: Optional[int] = None
        self._auto: Optional[Tuple[int, int]] = None
        self.stats: Optional[LagStats] = None
        self.selection: Optional[Selection] = None
        self.generation: dict = {}
        self.verdicts: Optional[dict] = None
        self._resumed: Optional[dict] = None
        self._recorder: Optional[HeadRecorder] = None
        self._probe: Optional[TrainSetProbe] = None

    # -- set-up -------------------------------------------------------------
    def signature(self) -> dict:
        """The settings a resumed run must share with the original."""
        return dict(
            rule=self.rule_name, rule_cfg=self.rule.config(),
            num_variants=self.num_variants,
            generator=self.generator_cfg, seed=self.seed,
            select_epoch=self._select_epoch_arg if self._auto
            else self.select_epoch,
            auto=None if self._auto is None else dict(
                range=list(self.auto_range), knee=self.knee_fraction),
            variant_filter=self.variant_filter_cfg,
            guard=self._guard())

    def _guard(self) -> dict:
        return dict(guard=self.exclude, aum_threshold=self.aum_threshold,
                    aum_quantile=self.aum_quantile,
                    exclude_top=self.exclude_top)

    def cache_root(self, work_dir: str) -> str:
        """The variant cache root of a run in ``work_dir``."""
        return self.cache_dir or RunLayout(work_dir).variants

    def _resolve_select_epoch(self, max_epochs: int) -> int:
        """The selection epoch, or for ``'auto'`` the latest one it may
        be (the range's end)."""
        arg = self._select_epoch_arg
        if arg == 'auto':
            self._auto = epoch_range(max_epochs, self.auto_range)
            return self._auto[1]
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

    def before_train(self, runner) -> None:
        """Check the setup; restore a resumed run's state or apply a given
        selection (then augment before the first epoch), else start
        recording. Fails before any training step on a bad setup or an
        unwritable cache."""
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise TypeError(
                'LearningLagHook needs an epoch-based loop: set '
                'train_cfg = dict(by_epoch=True, max_epochs=...).')
        self.layout = RunLayout(runner.work_dir)
        self.dataset = find_tada_dataset(runner.train_dataloader.dataset)
        self.dataset.full_init()
        check_class_balancing(runner.train_dataloader, self.dataset)
        self.select_epoch = self._resolve_select_epoch(runner.max_epochs)
        self._setup(runner)
        check_writable(self.cache_root(runner.work_dir))
        if self._resumed is not None:
            self._restore(self._resumed)
            self._resumed = None
        elif self.selection_file is not None:
            selection = Selection.load(self.selection_file)
            self._check_dataset(selection, self.selection_file)
            self.selection = selection
            selection.dump(self.layout.selection)
            print_log(selection.summary(), logger='current')
        if self.selection is None:
            if self._records(runner) == 'train':
                self._recorder = HeadRecorder(self._head(runner),
                                              self.head_path)
        elif self.stop_after_selection:
            runner.train_loop.stop_training = True  # selected before resume
        else:
            self._augment(runner)

    def _setup(self, runner) -> None:
        """Check the model against the data; make the empty statistics."""
        reader = self.dataset.reader
        self.labels = torch.from_numpy(reader.gt_labels())
        classes = reader.classes
        num_classes = len(classes) if classes else int(self.labels.max()) + 1
        head = self._head(runner, required=self._records(runner) == 'train')
        head_classes = getattr(head, 'num_classes', num_classes)
        if head_classes != num_classes:
            raise ValueError(class_count_error(head_classes, num_classes))
        self.stats = LagStats(len(reader), num_classes)

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

    def _stop_recording(self) -> None:
        if self._recorder is not None:
            self._recorder.remove()
            self._recorder = None

    # -- recording ----------------------------------------------------------
    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        """Add the batch's training outputs to the statistics
        (``record='train'``, until the selection)."""
        if self._recorder is not None:
            self._recorder.consume(data_batch['data_samples'], self.stats)

    def after_train_epoch(self, runner) -> None:
        """Probe if due, reduce the epoch's statistics across ranks
        (collective), and select at ``select_epoch``."""
        if self.selection is not None:
            return
        epoch = runner.epoch + 1  # epochs completed
        deciding = self._auto is not None and epoch >= self._auto[0]
        if self._records(runner) == 'probe':
            if epoch % self.probe_interval and epoch != self.select_epoch \
                    and not deciding:
                return
            if self._probe is None:
                self._probe = TrainSetProbe(runner, self.dataset.reader,
                                            self.probe_batch_size)
            print_log(f'TADA probe of the training set after epoch {epoch}',
                      logger='current')
            self._probe.run(runner.model, self._consume)
        self.stats.end_epoch(epoch)
        if self._auto is not None:
            reason = decide(self.stats.error_curve(), self._chance_error(),
                            *self._auto, self.knee_fraction, self._ready())
            if reason:
                self._select(runner, epoch, reason)
        elif epoch >= self.select_epoch:
            self._select(runner, epoch)

    def _chance_error(self) -> float:
        """The training error before any training (``'auto'``'s e_0)."""
        return 1 - 1 / self.stats.num_classes

    def _ready(self) -> bool:
        """Whether a knee may count yet (always, for classification)."""
        return True

    def _consume(self, outputs) -> None:
        """Add one probe batch (classification data samples)."""
        idx = torch.tensor([o.metainfo['sample_idx'] for o in outputs])
        labels = torch.cat([o.gt_label for o in outputs])
        scores = torch.stack([o.pred_score for o in outputs])
        self.stats.update(idx, scores.float().clamp_min(1e-12).log(), labels)

    # -- selection and augmentation ------------------------------------------
    def _flagged(self, stats) -> Optional[torch.Tensor]:
        """The label-noise guard's flags (None: no guard)."""
        if self.exclude is None and self.exclude_top is None:
            return None
        return guard(stats, self.exclude, self.aum_threshold,
                     self.aum_quantile, self.exclude_top)

    def _make_selection(self, epoch: int) -> Selection:
        reader = self.dataset.reader
        stats = self.stats.latest(self.labels)
        return select_samples(
            self.rule, self.rule_name, stats, reader.classes, epoch,
            reader.fingerprint(), self._flagged(stats), self._guard())

    def _write_trajectories(self, selection: Selection) -> None:
        chosen = np.zeros(self.stats.num_samples, bool)
        if selection.instances:
            chosen[:] = selection.instances['selected']
            labels = self.index.labels
        else:
            chosen[selection.indices] = True
            labels = self.labels
        save_trajectories(self.layout.trajectories, self.stats, labels,
                          chosen, self._flagged(self.stats.latest(labels)))

    def _select(self, runner, epoch: int, reason: Optional[str] = None):
        self._stop_recording()
        check_finite(runner, self._model(runner), self.stats, epoch)
        payload = [None]
        if dist.is_main_process():
            selection = self._make_selection(epoch)
            if reason is not None:
                lo, hi = self._auto
                selection.auto = dict(
                    reason=reason, range=[lo, hi], knee=self.knee_fraction,
                    curve=self.stats.error_curve(),
                    start=self._chance_error())
            selection.dump(self.layout.selection)
            self._write_trajectories(selection)
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
        if self.selection.auto:
            curve = ' '.join(f'{e:.3f}' for e in self.selection.auto['curve'])
            print_log(f'TADA select_epoch=auto: training error by epoch '
                      f'{curve}; selecting after epoch {epoch} '
                      f"({self.selection.auto['reason']})", logger='current')
        print_log(self.selection.summary(), logger='current')
        warning = self.selection.targeting_warning()
        if warning:
            print_log(warning, logger='current', level=30)
        if self.stop_after_selection:
            # The model at the selection: what restart mode's variant
            # filter scores with (Runner.save_checkpoint is rank 0's).
            runner.save_checkpoint(runner.work_dir, f'epoch_{epoch}.pth',
                                   save_optimizer=False,
                                   save_param_scheduler=False)
            print_log(
                f'TADA: selection written to {self.layout.selection}; '
                'stopping this run (the selection run of restart mode).',
                logger='current')
            runner.train_loop.stop_training = True
            return
        self._augment(runner)

    def _augment(self, runner) -> None:
        variant_filter = None
        if self.variant_filter_cfg is not None and self.verdicts is None:
            variant_filter = VARIANT_FILTERS.build(copy.deepcopy(
                self.variant_filter_cfg)).bind(runner.cfg, runner.model)
        made = make_variants(
            self.generator_cfg, self.dataset.reader, self.selection.indices,
            self.num_variants, self.seed, self.cache_root(runner.work_dir),
            record=self.layout.generation, variant_filter=variant_filter,
            verdicts=self.verdicts)
        self.generation, self.verdicts = made.counts, made.verdicts
        if dist.is_main_process():
            atomic_write_json(self.layout.served, dict(pairs=made.pairs))
            if self.selection.indices:
                runner.visualizer.add_image(
                    'tada_hard_examples', selection_grid(
                        self.dataset.reader, made.cache, self.selection,
                        made.pairs), step=self.selection.epoch)
        self.dataset.set_variants(made.cache, made.pairs)
        self._check_same_state()
        # Persistent workers hold a copy of the dataset: restart them once.
        runner.train_dataloader._iterator = None

    def _check_same_state(self) -> None:
        """Collective: every rank must now serve the same data; rank 0
        writes the digest to ``dataset_state.json``."""
        digests = dist.all_gather_object(self.dataset.state_digest())
        if len(set(digests)) > 1:
            raise RuntimeError(
                'TADA: the ranks serve different data after generation '
                f'(state digests {sorted(set(d[:12] for d in digests))}): '
                'cache_dir must be one folder that every rank sees (on '
                'several machines, a shared file system).')
        print_log(f'TADA dataset state {digests[0][:16]} on {len(digests)} '
                  'rank(s)', logger='current')
        if dist.is_main_process():
            atomic_write_json(self.layout.dataset_state,
                              dict(digest=digests[0], ranks=len(digests)))

    def _check_dataset(self, selection: Selection, source: str) -> None:
        reader = self.dataset.reader
        selection.check_dataset(reader.fingerprint(), len(reader), source)

    # -- checkpoint ----------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Put the TADA state into ``checkpoint['tada']`` (rank 0 only:
        ``Runner.save_checkpoint`` is master-only, so no collectives)."""
        checkpoint['tada'] = dict(
            version=STATE_VERSION,
            signature=self.signature(),
            stats=self.stats.state_dict() if self.stats else None,
            selection=self.selection.to_dict() if self.selection else None,
            generation=dict(self.generation),
            verdicts=None if self.verdicts is None else [
                [s, v, a] for (s, v), a in sorted(self.verdicts.items())])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep a resumed run's TADA state for ``before_train`` (every
        rank, inside ``load_or_resume``; ``load_from`` brings none)."""
        if runner._resume and 'tada' in checkpoint:
            self._resumed = checkpoint['tada']

    def _restore(self, state: dict) -> None:
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
        if state.get('verdicts') is not None:
            self.verdicts = {(s, v): a for s, v, a in state['verdicts']}
        if state['selection'] is not None:
            self.selection = Selection.from_dict(state['selection'])
            self._check_dataset(self.selection, 'the checkpoint')
            print_log('TADA resumed: ' + self.selection.summary(),
                      logger='current')
