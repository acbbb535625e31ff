"""Each training sample's learning lag, from the first epoch to the
selection."""
from typing import Optional, Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmtada.registry import SELECTION_RULES
from mmtada.selection import LagStats, Selection, select_samples
from mmtada.selection.label_noise import EXCLUDE, guard
from mmtada.selection.trajectories import save_trajectories
from .head_recorder import HeadRecorder, class_count_error, find_head
from .train_set_probe import TrainSetProbe

RECORD = ('auto', 'train', 'probe')


class LagTracker:
    """Records the learning lag of every base training sample of a
    classifier and turns it into a :class:`~mmtada.selection.Selection`.

    Built from settings (checked at once); :meth:`setup` binds it to a
    runner and the base samples. With ``record='train'`` the statistics
    come from the training forward (:class:`HeadRecorder` on
    ``head_path``, no extra pass); with ``'probe'`` from an eval pass with
    the test pipeline every ``probe_interval`` epochs
    (:class:`TrainSetProbe`); ``'auto'`` probes when the data preprocessor
    has batch augments (Mixup/CutMix leave no hard labels).

    Ranks: every rank records what it sees and calls :meth:`end_epoch`
    (collective: the statistics are summed, so all ranks hold the same);
    :meth:`select` and :meth:`write_trajectories` run on rank 0 alone.
    Resume: the state is :attr:`stats` (:class:`LagStats`).

    Args:
        rule (str | dict): the selection rule. Defaults to ``'kmeans'``.
        record (str): ``'auto'``, ``'train'`` or ``'probe'``.
        probe_interval (int): epochs between probes. Defaults to 1.
        probe_batch_size (int, optional): Defaults to None (training's).
        head_path (str): the classification head. Defaults to ``'head'``.
        exclude (str, optional): the label-noise guard (``'aum'``).
        aum_threshold (float | str): Defaults to ``'auto'``.
        aum_quantile (float): Defaults to 0.5.
        exclude_top (float, optional): Defaults to None.
    """
    guards = (None, 'aum')

    def __init__(self, rule: Union[str, dict] = 'kmeans',
                 record: str = 'auto', probe_interval: int = 1,
                 probe_batch_size: Optional[int] = None,
                 head_path: str = 'head', exclude: Optional[str] = None,
                 aum_threshold: Union[float, str] = 'auto',
                 aum_quantile: float = 0.5,
                 exclude_top: Optional[float] = None):
        if record not in RECORD:
            raise ValueError(f'LearningLagHook record must be one of '
                             f"{RECORD}, got '{record}'.")
        if exclude not in EXCLUDE:
            raise ValueError(f'exclude must be one of {EXCLUDE}, got '
                             f'{exclude!r}.')
        if exclude not in self.guards:
            raise ValueError(
                f"{type(self).__name__}'s label-noise guard is "
                f"exclude={self.guards[-1]!r} (or None), not {exclude!r}.")
        rule_cfg = dict(type=rule) if isinstance(rule, str) else dict(rule)
        self.rule_name = rule_cfg['type'].split('.')[-1]
        self.rule = SELECTION_RULES.build(rule_cfg)
        self.record = record
        self.probe_interval = int(probe_interval)
        self.probe_batch_size = probe_batch_size
        self.head_path = head_path
        self.guard = dict(
            guard=exclude, aum_threshold=aum_threshold if
            aum_threshold == 'auto' else float(aum_threshold),
            aum_quantile=float(aum_quantile), exclude_top=exclude_top)
        self.stats: Optional[LagStats] = None
        self._recorder: Optional[HeadRecorder] = None
        self._probe: Optional[TrainSetProbe] = None

    def settings(self) -> dict:
        """What a resumed run must share."""
        return dict(rule=self.rule_name, rule_cfg=self.rule.config(),
                    guard=self.guard)

    def setup(self, runner, reader) -> None:
        """Bind to ``runner`` and the base samples ``reader``; check the
        model against them; make the empty statistics."""
        self.runner, self.reader = runner, reader
        self.model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        if self.record == 'auto':
            pre = getattr(self.model, 'data_preprocessor', None)
            self.record = 'probe' if getattr(pre, 'batch_augments', None) \
                else 'train'
        self.stats = self._make_stats()

    def _make_stats(self) -> LagStats:
        self.labels = torch.from_numpy(self.reader.gt_labels())
        classes = self.reader.classes
        num_classes = len(classes) if classes else int(self.labels.max()) + 1
        head = find_head(self.model, self.head_path,
                         required=self.record == 'train')
        head_classes = getattr(head, 'num_classes', num_classes)
        if head_classes != num_classes:
            raise ValueError(class_count_error(head_classes, num_classes))
        return LagStats(len(self.reader), num_classes)

    def start(self) -> None:
        """Record from the training forward (``record='train'``)."""
        if self.record == 'train':
            self._recorder = HeadRecorder(
                find_head(self.model, self.head_path), self.head_path)

    def stop(self) -> None:
        if self._recorder is not None:
            self._recorder.remove()
            self._recorder = None

    def after_iter(self, data_samples) -> None:
        """Add a training batch's outputs (while recording)."""
        if self._recorder is not None:
            self._recorder.consume(data_samples, self.stats)

    def end_epoch(self, epoch: int, deciding: bool) -> bool:
        """Probe if due (or ``deciding``); collective: reduce the epoch
        across ranks. False when the epoch was not recorded (a probe
        interval)."""
        if self.record == 'probe':
            if epoch % self.probe_interval and not deciding:
                return False
            if self._probe is None:
                self._probe = TrainSetProbe(self.runner, self.reader,
                                            self.probe_batch_size)
            print_log(f'TADA probe of the training set after epoch {epoch}',
                      logger='current')
            self._probe.run(self.runner.model, self.consume)
        self.stats.end_epoch(epoch)
        return True

    def consume(self, outputs) -> None:
        """Add one probe batch (classification data samples)."""
        idx = torch.tensor([o.metainfo['sample_idx'] for o in outputs])
        labels = torch.cat([o.gt_label for o in outputs])
        scores = torch.stack([o.pred_score for o in outputs])
        self.stats.update(idx, scores.float().clamp_min(1e-12).log(), labels)

    def chance_error(self) -> float:
        """The training error before any training (``'auto'``'s e_0)."""
        return 1 - 1 / self.stats.num_classes

    def ready(self) -> bool:
        """Whether a knee may count yet (always, for classification)."""
        return True

    @property
    def unit_labels(self) -> torch.Tensor:
        """The label of each recorded unit (here: sample)."""
        return self.labels

    def flagged(self, stats) -> Optional[torch.Tensor]:
        """The label-noise guard's flags (None: no guard)."""
        g = self.guard
        if g['guard'] is None and g['exclude_top'] is None:
            return None
        return guard(stats, g['guard'], g['aum_threshold'],
                     g['aum_quantile'], g['exclude_top'])

    def select(self, epoch: int) -> Selection:
        """The rule's selection on the last recorded epoch (rank 0)."""
        stats = self.stats.latest(self.labels)
        return select_samples(
            self.rule, self.rule_name, stats, self.reader.classes, epoch,
            self.reader.fingerprint(), self.flagged(stats), self.guard)

    def selected_units(self, selection: Selection) -> np.ndarray:
        """Which recorded units ``selection`` selected."""
        return selection.mask()

    def write_trajectories(self, path: str, selection: Selection) -> None:
        labels = self.unit_labels
        save_trajectories(path, self.stats, labels,
                          self.selected_units(selection),
                          self.flagged(self.stats.latest(labels)))
