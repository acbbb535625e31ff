"""Track per-sample learning lag, select the lagging samples, augment them."""
import copy
from typing import Optional, Tuple, Union

from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from mmtada.datasets.tada_dataset import (check_class_balancing,
                                          find_tada_dataset)
from mmtada.engine.divergence import check_finite
from mmtada.engine.lag_tracker import LagTracker
from mmtada.engine.tada_state import TADAState
from mmtada.generators import check_writable, choose_codec, make_variants
from mmtada.registry import GENERATORS, HOOKS, VARIANT_FILTERS
from mmtada.selection import Selection
from mmtada.selection.auto_epoch import (DEFAULT_FRACTION, DEFAULT_RANGE,
                                         SelectEpoch)
from mmtada.utils import RunLayout, atomic_write_json
from mmtada.visualization import score_histogram, selection_grid

MODES = ('in_run', 'restart')


def check_mode(mode: str) -> str:
    """``mode`` if it is a TADA run mode, else one clear error."""
    if mode not in MODES:
        raise ValueError(f"LearningLagHook mode must be 'in_run' or "
                         f"'restart', got '{mode}'.")
    return mode


@HOOKS.register_module()
class LearningLagHook(Hook):
    """TADA: find the samples the model has not learned early, augment them.

    Glue between the Runner and TADA's workers: a
    :class:`~mmtada.engine.LagTracker` records each base sample's learning
    lag until the epoch :class:`~mmtada.selection.auto_epoch.SelectEpoch`
    names, then selects (rank 0, broadcast); :func:`~mmtada.generators.
    make_variants` makes ``num_variants`` variants of each selected sample
    (split across ranks, cached, judged by ``variant_filter``); the
    :class:`~mmtada.datasets.TADADataset` serves them; a
    :class:`~mmtada.engine.TADAState` goes into ``checkpoint['tada']``.
    Ranks, resume, restart mode and files: ``docs/hook_protocol.md``.

    Args:
        select_epoch (int | float | str, optional): the epoch after which
            to select; a float in (0, 1): a fraction of ``max_epochs``;
            ``'auto'``: the knee of the training error within
            ``auto_range``. Defaults to None: 5% of the schedule.
        rule (str | dict): ``'kmeans'`` (paper), ``'misclassified'``,
            ``'loss_quantile'``, or a config dict. Defaults to ``'kmeans'``.
        num_variants (int): k, variants per selected sample. Defaults to 5.
        generator (dict): Defaults to ``dict(type='mmtada.Upsample')``.
        stop_after_selection (bool): stop once selected (restart mode's
            first run). Defaults to False.
        selection (str, optional): apply this ``selection.json`` before the
            first epoch instead of recording. Defaults to None.
        cache_dir (str, optional): the variant cache root, seen by every
            rank: a folder, or a URI of an mmengine file backend (an object
            store). Defaults to None: ``<work_dir>/tada/variants``.
        backend_args (dict, optional): mmengine file backend arguments
            for ``cache_dir`` and ``selection`` (as ``CheckpointHook``
            takes them). Defaults to None: by the path's prefix.
        variant_codec (str): how variants are stored: ``'png'``
            (lossless) or ``'source'`` (JPEG at ``jpeg_quality`` when every
            training image is a JPEG file, else PNG). Defaults to
            ``'png'``.
        jpeg_quality (int): Defaults to 95.
        seed (int): generation seed. Defaults to 0.
        variant_filter (dict, optional): e.g. ``dict(type=
            'mmtada.LabelAgreement')``. Defaults to None.
        auto_range (tuple): ``'auto'``'s (min, max) fractions of the
            schedule. Defaults to (0.03, 0.10).
        knee_fraction (float): ``'auto'``'s knee. Defaults to 0.5.
        mode (str): ``'in_run'``; ``'restart'`` is two runs, which
            :func:`mmtada.apis.train` runs. Defaults to ``'in_run'``.
        **tracker: the recording (``record``, ``probe_interval``,
            ``head_path``, ...) and the label-noise guard (``exclude``, ...)
            as :class:`~mmtada.engine.LagTracker` takes them.
    """
    priority = 'NORMAL'  # before CheckpointHook: state is synced when saved
    tracker_type = LagTracker

    def __init__(self,
                 select_epoch: Optional[Union[int, float, str]] = None,
                 rule: Union[str, dict] = 'kmeans',
                 num_variants: int = 5,
                 generator: dict = dict(type='mmtada.Upsample'),
                 stop_after_selection: bool = False,
                 selection: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 variant_codec: str = 'png',
                 jpeg_quality: int = 95,
                 seed: int = 0,
                 variant_filter: Optional[dict] = None,
                 auto_range: Tuple[float, float] = DEFAULT_RANGE,
                 knee_fraction: float = DEFAULT_FRACTION,
                 mode: str = 'in_run',
                 **tracker):
        if check_mode(mode) == 'restart':
            raise ValueError(
                "mode='restart' (select, then train from scratch) is two "
                'runs, which mmtada.apis.train runs, not a toolbox\'s own '
                'tools/train.py: train with mmtada train CONFIG (python '
                'tools/train.py CONFIG in a clone, or '
                "mmtada.apis.train(cfg)), or set mode='in_run'.")
        if int(num_variants) < 1:
            raise ValueError('num_variants must be >= 1.')
        self.tracker = self.tracker_type(rule=rule, **tracker)
        self.when = SelectEpoch(select_epoch, auto_range, knee_fraction)
        self.generator_cfg = dict(generator)
        if GENERATORS.get(self.generator_cfg.get('type', '')) is None:
            raise KeyError(
                f"unknown generator {self.generator_cfg.get('type')!r}: use "
                f'one of {sorted(GENERATORS.module_dict)} (mmtada.<name>).')
        self.num_variants = int(num_variants)
        self.variant_filter_cfg = None if variant_filter is None \
            else dict(variant_filter)
        if variant_filter is not None:  # built once: checked now
            VARIANT_FILTERS.build(copy.deepcopy(variant_filter))
        self.stop_after_selection = bool(stop_after_selection)
        self.selection_file = selection
        self.cache_dir = cache_dir
        self.backend_args = None if backend_args is None \
            else dict(backend_args)
        choose_codec(variant_codec, jpeg_quality)  # checked now
        self.variant_codec = variant_codec
        self.jpeg_quality = int(jpeg_quality)
        self.seed = int(seed)
        self.state: Optional[TADAState] = None
        self._resumed: Optional[dict] = None

    def signature(self) -> dict:
        """The settings a resumed run must share with the original."""
        codec = {} if self.variant_codec == 'png' else dict(
            variant_codec=self.variant_codec, jpeg_quality=self.jpeg_quality)
        return dict(self.tracker.settings(), **self.when.signature(),
                    num_variants=self.num_variants,
                    generator=self.generator_cfg, seed=self.seed,
                    variant_filter=self.variant_filter_cfg, **codec)

    def cache_root(self, work_dir: str) -> str:
        """The variant cache root of a run in ``work_dir``."""
        return self.cache_dir or RunLayout(work_dir).variants

    def codec(self, reader):
        """How this run stores the variants of ``reader``'s samples."""
        return choose_codec(self.variant_codec, self.jpeg_quality, reader)

    def before_train(self, runner) -> None:
        """Check the set-up and build the workers; restore a resumed run's
        state or apply a given selection (then augment before the first
        epoch), else start recording. Fails before any training step on a
        bad set-up or an unwritable cache."""
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise TypeError(
                'LearningLagHook needs an epoch-based loop: set '
                'train_cfg = dict(by_epoch=True, max_epochs=...).')
        self.layout = RunLayout(runner.work_dir)
        self.dataset = find_tada_dataset(runner.train_dataloader.dataset)
        self.dataset.full_init()
        check_class_balancing(runner.train_dataloader, self.dataset)
        self.when.resolve(runner.max_epochs)
        self.tracker.setup(runner, self.dataset.reader)
        self.state = TADAState(self.signature(), self.tracker.stats)
        check_writable(self.cache_root(runner.work_dir), self.backend_args)
        if self._resumed is not None:
            self.state.load_state_dict(self._resumed)
            self._resumed = None
            if self.state.selection is not None:
                self.dataset.check_selection(self.state.selection,
                                             'the checkpoint')
                print_log('TADA resumed: ' + self.state.selection.summary(),
                          logger='current')
        elif self.selection_file is not None:
            selection = Selection.load(self.selection_file,
                                       self.backend_args)
            self.dataset.check_selection(selection, self.selection_file)
            self.state.selection = selection
            selection.dump(self.layout.selection)
            print_log(selection.summary(), logger='current')
        if self.state.selection is None:
            self.tracker.start()
        elif self.stop_after_selection:
            runner.train_loop.stop_training = True  # selected before resume
        else:
            self._augment(runner)

    def before_train_epoch(self, runner) -> None:
        """Turn the slots to this epoch's variants (before the loader
        iterator starts, so persistent workers see it)."""
        self.dataset.set_epoch(runner.epoch)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        """Add the batch's training outputs (``record='train'``, until the
        selection)."""
        self.tracker.after_iter(data_batch['data_samples'])

    def after_train_epoch(self, runner) -> None:
        """Until the selection: probe if due, reduce the epoch's statistics
        across ranks (collective), and select when the epoch is due."""
        if self.state.selection is not None:
            return
        epoch = runner.epoch + 1  # epochs completed
        if not self.tracker.end_epoch(epoch, self.when.deciding(epoch)):
            return
        reason = self.when.due(epoch, self.tracker.stats.error_curve(),
                               self.tracker.chance_error(),
                               self.tracker.ready())
        if reason:
            self._select(runner, epoch, reason)

    def _select(self, runner, epoch: int, reason: str = 'epoch') -> None:
        tracker = self.tracker
        tracker.stop()
        check_finite(runner, tracker.model, tracker.stats, epoch)
        selection = None
        if dist.is_main_process():
            selection = tracker.select(epoch)
            selection.auto = self.when.record(
                reason, tracker.stats.error_curve(), tracker.chance_error())
            selection.dump(self.layout.selection)
            tracker.write_trajectories(self.layout.trajectories, selection)
            runner.visualizer.add_image(
                'tada_score_histogram', score_histogram(
                    selection.scores, selection.mask(),
                    f'TADA {selection.rule} scores, epoch {epoch}'),
                step=epoch)
        self.state.selection = Selection.broadcast(selection)
        self.state.selection.log()
        if not self.stop_after_selection:
            self._augment(runner)
            return
        # The model at the selection: restart mode's filter scores with it.
        runner.save_checkpoint(runner.work_dir, f'epoch_{epoch}.pth',
                               save_optimizer=False,
                               save_param_scheduler=False)
        print_log(f'TADA: selection written to {self.layout.selection}; '
                  'stopping this run (the selection run of restart mode).',
                  logger='current')
        runner.train_loop.stop_training = True

    def _augment(self, runner) -> None:
        """Make the selection's variants (collective), serve them, and
        restart persistent workers once so that they see them."""
        state, variant_filter = self.state, None
        if self.variant_filter_cfg is not None:  # bound only to judge
            variant_filter = VARIANT_FILTERS.build(copy.deepcopy(
                self.variant_filter_cfg))
            if state.verdicts is None:
                variant_filter.bind(runner.cfg, runner.model)
        made = make_variants(
            self.generator_cfg, self.dataset.reader, state.selection.indices,
            self.num_variants, self.seed, self.cache_root(runner.work_dir),
            record=self.layout.generation, variant_filter=variant_filter,
            verdicts=state.verdicts, codec=self.codec(self.dataset.reader),
            backend_args=self.backend_args)
        state.generation, state.verdicts = made.counts, made.verdicts
        if dist.is_main_process():
            atomic_write_json(self.layout.served,
                              made.served_record(self.dataset.reader))
            if state.selection.indices:
                runner.visualizer.add_image(
                    'tada_hard_examples', selection_grid(
                        self.dataset.reader, made.cache, state.selection,
                        made.pairs), step=state.selection.epoch)
        self.dataset.set_variants(made.cache, made.pairs)
        self.dataset.check_same_state(self.layout.dataset_state)
        runner.train_dataloader._iterator = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """``checkpoint['tada']`` (rank 0 only: no collectives)."""
        checkpoint['tada'] = self.state.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep a resumed run's state for ``before_train`` (every rank,
        inside ``load_or_resume``; ``load_from`` brings none)."""
        if runner._resume and 'tada' in checkpoint:
            self._resumed = checkpoint['tada']
