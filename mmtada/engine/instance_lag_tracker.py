"""Each ground-truth instance's learning lag, for mmdet detectors."""
from typing import Optional, Union

import numpy as np
import torch
from mmengine.logging import print_log

from mmtada.selection import (InstanceIndex, LagStats, Selection,
                              match_instances, select_images)
from mmtada.selection.instance_index import AGGREGATES
from mmtada.selection.label_noise import guard
from .head_recorder import class_count_error
from .lag_tracker import LagTracker


def detector_num_classes(model) -> Optional[int]:
    """``num_classes`` of a detector's box head (single- or two-stage)."""
    for path in ('bbox_head', 'roi_head.bbox_head'):
        module = model
        for name in path.split('.'):
            module = getattr(module, name, None)
        if module is not None and hasattr(module, 'num_classes'):
            return int(module.num_classes)
    return None


class InstanceLagTracker(LagTracker):
    """:class:`LagTracker` over the ground-truth instances of a detection
    training set, always with the eval probe.

    Each probe scores every instance of :class:`InstanceIndex` (identity:
    image index and position in its annotation list; ``ignore_flag``
    instances skipped): its row holds, per class, the best score of a
    prediction of that class overlapping it with IoU >= ``iou_thr``; it is
    learned when its own class's entry is >= ``score_thr``. The rule runs
    on the instances; an image is selected when ``min_instances`` of its
    instances are, scored by their ``aggregate``, at most ``max_fraction``
    of the images (:func:`~mmtada.selection.select_images`). Ranks and
    resume as :class:`LagTracker`.

    Args:
        iou_thr (float): Defaults to 0.5.
        score_thr (float): Defaults to 0.3.
        aggregate (str): ``'max'``, ``'mean'``, ``'sum'``. Defaults to
            ``'max'``.
        min_instances (int | float): a count, or a fraction in (0, 1).
            Defaults to 1.
        max_fraction (float, optional): Defaults to None (no cap).
        min_learned (float): ``'auto'`` counts no knee before the detector
            finds this fraction of the instances. Defaults to 0.1.
        **kwargs: as :class:`LagTracker` (``exclude='mismatched'``).
    """
    guards = (None, 'mismatched')

    def __init__(self, iou_thr: float = 0.5, score_thr: float = 0.3,
                 aggregate: str = 'max',
                 min_instances: Union[int, float] = 1,
                 max_fraction: Optional[float] = None,
                 min_learned: float = 0.1, **kwargs):
        if kwargs.get('record', 'probe') != 'probe':
            raise ValueError("DetLearningLagHook records with the probe "
                             "only: remove record= or set record='probe'.")
        super().__init__(**dict(kwargs, record='probe'))
        if not 0 <= min_learned < 1:
            raise ValueError(f'min_learned must be in [0, 1), got '
                             f'{min_learned}.')
        if not 0 < iou_thr <= 1 or not 0 <= score_thr <= 1:
            raise ValueError('iou_thr must be in (0, 1] and score_thr in '
                             f'[0, 1], got {iou_thr} and {score_thr}.')
        if aggregate not in AGGREGATES:
            raise ValueError(f'aggregate must be one of {AGGREGATES}, got '
                             f'{aggregate!r}.')
        if min_instances <= 0 or (isinstance(min_instances, float)
                                  and min_instances >= 1):
            raise ValueError(
                'min_instances is a count >= 1 or a fraction in (0, 1), '
                f'got {min_instances}.')
        if max_fraction is not None and not 0 < max_fraction <= 1:
            raise ValueError(
                f'max_fraction must be in (0, 1], got {max_fraction}.')
        self.images = dict(
            iou_thr=float(iou_thr), score_thr=float(score_thr),
            aggregate=aggregate, min_instances=min_instances,
            max_fraction=max_fraction, min_learned=float(min_learned))

    def settings(self) -> dict:
        return dict(super().settings(), **self.images)

    def _make_stats(self) -> LagStats:
        reader = self.reader
        if not reader.is_detection:
            raise TypeError(
                'DetLearningLagHook needs a detection dataset (data infos '
                "with 'instances'); for classification use "
                'mmtada.LearningLagHook.')
        if not reader.classes:
            raise ValueError("the detection dataset has no metainfo "
                             "'classes'; set metainfo=dict(classes=(...)).")
        self.index = InstanceIndex(reader)
        classes = detector_num_classes(self.model)
        if classes is not None and classes != len(reader.classes):
            raise ValueError(class_count_error(classes, len(reader.classes)))
        self._check_test_cfg()
        return LagStats(self.index.num_instances, len(reader.classes))

    def _check_test_cfg(self) -> None:
        """The probe sees only the predictions the detector's ``test_cfg``
        keeps: warn where it would hide instances the detector finds."""
        model = self.model
        cfgs = [getattr(model, 'test_cfg', None)] + [
            getattr(getattr(model, name, None), 'test_cfg', None)
            for name in ('bbox_head', 'roi_head')]
        found = {}
        for cfg in filter(None, cfgs):
            for key in ('score_thr', 'max_per_img'):
                for part in (cfg, cfg.get('rcnn') or {}):
                    if part.get(key) is not None:
                        found.setdefault(key, part[key])
        score, mine = found.get('score_thr'), self.images['score_thr']
        if score is not None and score > mine:
            print_log(
                f"TADA: the detector's test_cfg drops predictions below "
                f"score {score}, above the hook's score_thr {mine}: "
                'instances it finds between the two count as unlearned. Set '
                'the test_cfg score_thr (for two-stage detectors '
                f'test_cfg.rcnn.score_thr) to at most {mine}.',
                logger='current', level=30)
        most = int(self.index.count_per_image(
            torch.ones(self.index.num_instances, dtype=torch.bool)).max()) \
            if self.index.num_instances else 0
        cap = found.get('max_per_img')
        if cap is not None and most > cap:
            print_log(
                f"TADA: the detector's test_cfg keeps at most {cap} "
                f'predictions per image, but an image has {most} instances:'
                ' the probe marks the ones beyond the cap unlearned. Raise '
                f'test_cfg max_per_img above {most}.', logger='current',
                level=30)

    def consume(self, outputs) -> None:
        """Score the ground-truth instances of one probe batch."""
        numbers, rows = [], []
        for out in outputs:
            image = int(out.metainfo['sample_idx'])
            pred = out.pred_instances
            rows.append(match_instances(
                self.index.bboxes[image], pred.bboxes, pred.scores,
                pred.labels, self.stats.num_classes,
                self.images['iou_thr']))
            numbers.append(self.index.numbers(image))
        numbers = torch.cat(numbers)
        if not len(numbers):
            return
        rows = torch.cat(rows)
        labels = self.index.labels[numbers]
        own = rows.gather(1, labels[:, None]).squeeze(1)
        self.stats.update(numbers, rows.clamp_min(1e-6).log(), labels,
                          correct=own >= self.images['score_thr'])

    def chance_error(self) -> float:
        return 1.0  # before training the detector finds no instance

    def ready(self) -> bool:
        """A knee counts once the detector finds ``min_learned`` of the
        instances: before, every class would fall back to 'all wrong'."""
        curve = self.stats.error_curve()
        return bool(curve) and 1 - curve[-1] >= self.images['min_learned']

    @property
    def unit_labels(self) -> torch.Tensor:
        return self.index.labels

    def flagged(self, stats) -> Optional[torch.Tensor]:
        g = self.guard
        if g['guard'] is None and g['exclude_top'] is None:
            return None
        return guard(stats, g['guard'], g['aum_threshold'],
                     g['aum_quantile'], g['exclude_top'],
                     own_history=(-self.stats.loss).exp(),
                     score_thr=self.images['score_thr'])

    def select(self, epoch: int) -> Selection:
        stats = self.stats.latest(self.index.labels)
        im = self.images
        return select_images(
            self.rule, self.rule_name, stats, self.index,
            self.reader.classes, epoch, self.reader.fingerprint(),
            im['aggregate'], im['min_instances'], im['max_fraction'],
            self.flagged(stats), self.guard)

    def selected_units(self, selection: Selection) -> np.ndarray:
        return np.asarray(selection.instances['selected'], bool)
