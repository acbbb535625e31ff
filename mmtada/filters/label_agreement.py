"""A variant filter: a variant must keep what a model sees in its source."""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mmtada.evaluation import found_fraction
from mmtada.evaluation.variant_quality import (class_spread,
                                               cosine_distance,
                                               reals_per_class)
from mmtada.registry import VARIANT_FILTERS
from mmtada.utils.config_pipeline import config_test_pipeline
from .base_filter import BaseVariantFilter
from .variant_scoring import VariantScorer, model_from_checkpoint


@VARIANT_FILTERS.register_module()
class LabelAgreement(BaseVariantFilter):
    """Keeps a variant when a model still sees in it what it sees in its
    source, as ALIA filters edits with a classifier trained on the real
    data.

    Classification: kept when p(label | variant) >= ``min_ratio`` x
    p(label | source). Detection: kept when the detector finds at least
    ``min_ratio`` x as many of the ground-truth boxes (same class, IoU >=
    ``iou_thr``, score >= ``score_thr``) on the variant as on the source.
    The model is the one being trained, in eval mode with the config's test
    pipeline (``bind``), or a ``checkpoint`` of the config's model (e.g. a
    ``--baseline`` run's). A rejected variant is made again with the next
    seed (the seed a function of run seed, sample, variant and try; the
    try is part of the variant's cache key) up to ``max_tries``, then
    dropped, and its slots serve the sample's other variants, or the
    sample itself (see :func:`mmtada.generators.make_variants`).

    With ``strengths`` the remakes walk a strength ladder (see
    :class:`~mmtada.generators.StrengthLadder`), so each variant is made as
    far from its source as its label allows. ``novelty_floor``
    (classification) measures novelty as ``tools/variant_quality.py``
    does, with the judge's penultimate features, in units of the median
    distance between two real images of the class (measured once on up to
    ``REALS_PER_CLASS`` training images of each, the first by index).

    Args:
        min_ratio (float): Defaults to 0.5.
        max_tries (int, optional): makes of one variant at most. Defaults
            to None: 3, or with ``strengths`` their number (plus one with
            a floor).
        strengths (Sequence[float], optional): a ladder, highest first,
            e.g. ``(0.5, 0.35, 0.2)``. Defaults to None (the generator's).
        novelty_floor (float, optional): e.g. 0.3. Defaults to None.
        checkpoint (str, optional): score with this model (e.g. a
            baseline's) instead of the one being trained. Defaults to None:
            in in_run mode the model being trained, at the selection; in
            restart mode a judge trained on the real data first
            (:func:`mmtada.apis.train`; ``'selection'``: the selection
            run's model, no extra run).
        batch_size (int): Defaults to 32.
        iou_thr (float): detection. Defaults to 0.5.
        score_thr (float): detection. Defaults to 0.3.
    """

    REALS_PER_CLASS = 50

    def __init__(self, min_ratio: float = 0.5,
                 max_tries: Optional[int] = None,
                 checkpoint: Optional[str] = None, batch_size: int = 32,
                 iou_thr: float = 0.5, score_thr: float = 0.3,
                 strengths: Optional[Sequence[float]] = None,
                 novelty_floor: Optional[float] = None):
        if not 0 <= min_ratio:
            raise ValueError(f'min_ratio must be >= 0, got {min_ratio}.')
        if max_tries is None and not strengths:
            max_tries = 3
        super().__init__(max_tries, strengths, novelty_floor)
        self.min_ratio = float(min_ratio)
        self.checkpoint = checkpoint
        self.batch_size = int(batch_size)
        self.iou_thr = float(iou_thr)
        self.score_thr = float(score_thr)
        self.scorer = None
        self._spread = {}  # reader fingerprint: novelty's unit per class

    def settings(self) -> dict:
        return dict(super().settings(), min_ratio=self.min_ratio,
                    checkpoint=self.checkpoint, iou_thr=self.iou_thr,
                    score_thr=self.score_thr)

    def bind(self, cfg, model=None) -> 'LabelAgreement':
        """Score with ``model`` (the one being trained), or with the
        ``checkpoint``'s, through ``cfg``'s test pipeline."""
        if self.checkpoint not in (None, 'selection'):
            device = next(model.parameters()).device if model is not None \
                else 'cpu'
            model = model_from_checkpoint(cfg, self.checkpoint, device)
        if model is None:
            raise ValueError('LabelAgreement needs the model being trained '
                             'or a checkpoint to score with.')
        self.scorer = VariantScorer(model, config_test_pipeline(cfg),
                                    self.batch_size,
                                    scope=cfg.get('default_scope'))
        return self

    def judge(self, reader, cache,
              pairs: Sequence[Tuple[int, int]]) -> List[bool]:
        """Whether each (source, variant) of ``pairs`` is kept."""
        return [kept for kept, _ in self.assess(reader, cache, pairs)]

    def assess(self, reader, cache, pairs: Sequence[Tuple[int, int]]
               ) -> List[Tuple[bool, float]]:
        """(kept, novelty) of each pair; novelty is measured only for a
        ladder with a floor (else NaN)."""
        if not pairs:
            return []
        floor = self.novelty_floor is not None
        sources = sorted({s for s, _ in pairs})
        if reader.is_detection:
            if floor:
                raise ValueError(
                    'novelty_floor is measured with a classifier\'s '
                    'features: remove it from the detection filter.')
            return [(k, float('nan'))
                    for k in self._judge_boxes(reader, cache, pairs,
                                               sources)]
        labels = reader.gt_labels()
        src, src_feat = self.scorer.classify(reader, cache,
                                             [(s, None) for s in sources])
        var, var_feat = self.scorer.classify(reader, cache, pairs)
        at = {s: k for k, s in enumerate(sources)}
        novelty = np.full(len(pairs), np.nan)
        if floor:
            unit = self._unit(reader)
            novelty = cosine_distance(
                var_feat, src_feat[[at[s] for s, _ in pairs]]) / np.array(
                    [unit.get(int(labels[s]), np.nan) for s, _ in pairs])
        return [(bool(var[k, labels[s]] >= self.min_ratio *
                      src[at[s], labels[s]]), float(novelty[k]))
                for k, (s, _) in enumerate(pairs)]

    def _unit(self, reader) -> dict:
        """Per class, the median feature distance between two of its real
        images (novelty's unit), measured once per dataset."""
        key = reader.fingerprint()
        if key not in self._spread:
            labels = reader.gt_labels()
            reals = reals_per_class(labels, (), self.REALS_PER_CLASS)
            _, feats = self.scorer.classify(reader, None,
                                            [(s, None) for s in reals])
            self._spread[key] = class_spread(feats, labels[reals])
        return self._spread[key]

    def _judge_boxes(self, reader, cache, pairs, sources) -> List[bool]:
        num_classes = len(reader.classes)

        def found(items):
            preds = self.scorer.detect(reader, cache, items)
            out = []
            for (s, _), pred in zip(items, preds):
                ann = reader.source_annotation(s)
                keep = ann['ignore_flags'] == 0
                frac = found_fraction(ann['bboxes'][keep],
                                      ann['labels'][keep], pred, num_classes,
                                      self.iou_thr, self.score_thr)
                out.append(0.0 if frac is None else frac * int(keep.sum()))
            return np.array(out)

        n_src = dict(zip(sources, found([(s, None) for s in sources])))
        n_var = found(list(pairs))
        return [bool(n_var[k] >= self.min_ratio * n_src[s] - 1e-9)
                for k, (s, _) in enumerate(pairs)]
