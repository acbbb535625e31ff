"""Learning lag of ground-truth instances, for mmdet detectors."""
from typing import Optional, Union

import torch
from mmengine.logging import print_log

from mmtada.engine.head_recorder import class_count_error
from mmtada.registry import HOOKS
from mmtada.selection import (InstanceIndex, LagStats, Selection,
                              match_instances, select_images)
from mmtada.selection.instance_index import AGGREGATES
from mmtada.selection.label_noise import guard
from .learning_lag_hook import LearningLagHook


def detector_num_classes(model) -> Optional[int]:
    """``num_classes`` of a detector's box head (single- or two-stage)."""
    for path in ('bbox_head', 'roi_head.bbox_head'):
        module = model
        for name in path.split('.'):
            module = getattr(module, name, None)
        if module is not None and hasattr(module, 'num_classes'):
            return int(module.num_classes)
    return None


@HOOKS.register_module()
class DetLearningLagHook(LearningLagHook):
    """TADA for detection: the images whose instances the detector has not
    learned early get box-preserving variants.

    Every ``probe_interval`` epochs up to ``select_epoch`` an eval-mode
    probe runs the training images through the test pipeline (split across
    ranks) and scores every ground-truth instance of
    :class:`~mmtada.selection.InstanceIndex` (identity: image index and
    position in its annotation list; ``ignore_flag`` instances skipped):
    its row holds, per class, the best score of a prediction of that class
    overlapping it with IoU >= ``iou_thr``; it is *learned* when its own
    class's entry is >= ``score_thr``. :class:`LagStats` keeps these per
    instance across probes (loss = -log of the own-class score), summed
    over ranks. At ``select_epoch`` the rule runs on the instances
    (``'kmeans'`` per class on the rows, ``'unlearned'``, ...), and an image
    is selected when ``min_instances`` of its instances are (a count, or a
    fraction of them); its score is the ``aggregate`` of theirs;
    ``max_fraction`` caps the selected images, keeping the highest scores
    (see :func:`~mmtada.selection.select_images`). ``selection.json`` holds the
    per-instance detail. Generation, the dataset, modes, ranks and resume
    are those of :class:`LearningLagHook`; use a box-preserving generator
    (``mmtada.BoxPreservingSDEdit``) so that the annotations still hold.

    Args:
        select_epoch (int | float, optional): as :class:`LearningLagHook`.
        rule (str | dict): the rule, run on the instances. Defaults to
            ``'kmeans'``.
        iou_thr (float): IoU for a prediction to find an instance.
            Defaults to 0.5.
        score_thr (float): score for a found instance to count as learned.
            Defaults to 0.3.
        aggregate (str): per-image score: ``'max'``, ``'mean'``, ``'sum'``.
            Defaults to ``'max'``.
        min_instances (int | float): selected instances an image needs: a
            count, or a fraction in (0, 1) of its instances. Defaults to 1.
        max_fraction (float, optional): most images to select, as a
            fraction of all. Defaults to None (no cap).
        min_learned (float): ``select_epoch='auto'`` counts no knee before
            the detector finds this fraction of the instances (at the
            range's end it selects anyway, and warns if a class could not
            be split). Defaults to 0.1.
        exclude (str, optional): the label-noise guard on instances,
            ``'mismatched'``: never matched with its own class at any
            probe, while the detector finds others of that class and sees
            another class there. Defaults to None (off).
        **kwargs: as :class:`LearningLagHook` (``record`` is always
            ``'probe'``).
    """

    def __init__(self,
                 select_epoch: Optional[Union[int, float, str]] = None,
                 rule: Union[str, dict] = 'kmeans',
                 iou_thr: float = 0.5,
                 score_thr: float = 0.3,
                 aggregate: str = 'max',
                 min_instances: Union[int, float] = 1,
                 max_fraction: Optional[float] = None,
                 min_learned: float = 0.1,
                 exclude: Optional[str] = None,
                 **kwargs):
        if kwargs.get('record', 'probe') != 'probe':
            raise ValueError("DetLearningLagHook records with the probe "
                             "only: remove record= or set record='probe'.")
        kwargs['record'] = 'probe'
        super().__init__(select_epoch=select_epoch, rule=rule,
                         exclude=exclude, **kwargs)
        if exclude == 'aum':
            raise ValueError("DetLearningLagHook's label-noise guard is "
                             "exclude='mismatched' (or None); 'aum' is for "
                             'classification.')
        if not 0 <= min_learned < 1:
            raise ValueError(f'min_learned must be in [0, 1), got '
                             f'{min_learned}.')
        self.min_learned = float(min_learned)
        if not 0 < iou_thr <= 1 or not 0 <= score_thr <= 1:
            raise ValueError('iou_thr must be in (0, 1] and score_thr in '
                             f'[0, 1], got {iou_thr} and {score_thr}.')
        if aggregate not in AGGREGATES:
            raise ValueError(f'aggregate must be one of {AGGREGATES}, got '
                             f'{aggregate!r}.')
        self.iou_thr = float(iou_thr)
        self.score_thr = float(score_thr)
        self.aggregate = aggregate
        if min_instances <= 0 or (isinstance(min_instances, float)
                                  and min_instances >= 1):
            raise ValueError(
                'min_instances is a count >= 1 or a fraction in (0, 1), '
                f'got {min_instances}.')
        if max_fraction is not None and not 0 < max_fraction <= 1:
            raise ValueError(
                f'max_fraction must be in (0, 1], got {max_fraction}.')
        self.min_instances = min_instances
        self.max_fraction = max_fraction

    def signature(self) -> dict:
        return dict(super().signature(), iou_thr=self.iou_thr,
                    score_thr=self.score_thr, aggregate=self.aggregate,
                    min_instances=self.min_instances,
                    max_fraction=self.max_fraction,
                    min_learned=self.min_learned)

    def _chance_error(self) -> float:
        return 1.0  # before training the detector finds no instance

    def _ready(self) -> bool:
        """A knee counts once the detector finds ``min_learned`` of the
        instances: before, every class would fall back to 'all wrong'."""
        curve = self.stats.error_curve()
        return bool(curve) and 1 - curve[-1] >= self.min_learned

    def _flagged(self, stats) -> Optional[torch.Tensor]:
        if self.exclude is None and self.exclude_top is None:
            return None
        return guard(stats, self.exclude, self.aum_threshold,
                     self.aum_quantile, self.exclude_top,
                     own_history=(-self.stats.loss).exp(),
                     score_thr=self.score_thr)

    def _setup(self, runner) -> None:
        reader = self.dataset.reader
        if not reader.is_detection:
            raise TypeError(
                'DetLearningLagHook needs a detection dataset (data infos '
                "with 'instances'); for classification use "
                'mmtada.LearningLagHook.')
        classes = reader.classes
        if not classes:
            raise ValueError("the detection dataset has no metainfo "
                             "'classes'; set metainfo=dict(classes=(...)).")
        self.index = InstanceIndex(reader)
        model_classes = detector_num_classes(self._model(runner))
        if model_classes is not None and model_classes != len(classes):
            raise ValueError(class_count_error(model_classes, len(classes)))
        self.stats = LagStats(self.index.num_instances, len(classes))
        self._check_test_cfg(runner)

    def _check_test_cfg(self, runner) -> None:
        """The probe sees only the predictions the detector's ``test_cfg``
        keeps: warn where it would hide instances the detector finds."""
        model = self._model(runner)
        cfgs = [getattr(model, 'test_cfg', None)] + [
            getattr(getattr(model, name, None), 'test_cfg', None)
            for name in ('bbox_head', 'roi_head')]
        found = {}
        for cfg in filter(None, cfgs):
            for key in ('score_thr', 'max_per_img'):
                for part in (cfg, cfg.get('rcnn') or {}):
                    if part.get(key) is not None:
                        found.setdefault(key, part[key])
        score = found.get('score_thr')
        if score is not None and score > self.score_thr:
            print_log(
                f"TADA: the detector's test_cfg drops predictions below "
                f'score {score}, above the hook\'s score_thr '
                f'{self.score_thr}: instances it finds between the two '
                'count as unlearned. Set the test_cfg score_thr (for '
                'two-stage detectors test_cfg.rcnn.score_thr) to at most '
                f'{self.score_thr}.', logger='current', level=30)
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

    def _consume(self, outputs) -> None:
        """Score the ground-truth instances of one probe batch."""
        numbers, rows = [], []
        for out in outputs:
            image = int(out.metainfo['sample_idx'])
            pred = out.pred_instances
            rows.append(match_instances(
                self.index.bboxes[image], pred.bboxes, pred.scores,
                pred.labels, self.stats.num_classes, self.iou_thr))
            numbers.append(self.index.numbers(image))
        numbers = torch.cat(numbers)
        if not len(numbers):
            return
        rows = torch.cat(rows)
        labels = self.index.labels[numbers]
        own = rows.gather(1, labels[:, None]).squeeze(1)
        self.stats.update(numbers, rows.clamp_min(1e-6).log(), labels,
                          correct=own >= self.score_thr)

    def _make_selection(self, epoch: int) -> Selection:
        reader = self.dataset.reader
        stats = self.stats.latest(self.index.labels)
        return select_images(
            self.rule, self.rule_name, stats, self.index, reader.classes,
            epoch, reader.fingerprint(), self.aggregate, self.min_instances,
            self.max_fraction, self._flagged(stats), self._guard())
