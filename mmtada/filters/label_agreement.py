"""A variant filter: a variant must keep what a model sees in its source."""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mmtada.evaluation import found_fraction
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

    Args:
        min_ratio (float): Defaults to 0.5.
        max_tries (int): makes of one variant at most. Defaults to 3.
        checkpoint (str, optional): score with this model instead of the
            one being trained. Defaults to None.
        batch_size (int): Defaults to 32.
        iou_thr (float): detection. Defaults to 0.5.
        score_thr (float): detection. Defaults to 0.3.
    """

    def __init__(self, min_ratio: float = 0.5, max_tries: int = 3,
                 checkpoint: Optional[str] = None, batch_size: int = 32,
                 iou_thr: float = 0.5, score_thr: float = 0.3):
        if not 0 <= min_ratio:
            raise ValueError(f'min_ratio must be >= 0, got {min_ratio}.')
        super().__init__(max_tries)
        self.min_ratio = float(min_ratio)
        self.checkpoint = checkpoint
        self.batch_size = int(batch_size)
        self.iou_thr = float(iou_thr)
        self.score_thr = float(score_thr)
        self.scorer = None

    def settings(self) -> dict:
        return dict(type='LabelAgreement', min_ratio=self.min_ratio,
                    max_tries=self.max_tries, checkpoint=self.checkpoint,
                    iou_thr=self.iou_thr, score_thr=self.score_thr)

    def bind(self, cfg, model=None) -> 'LabelAgreement':
        """Score with ``model`` (the one being trained), or with the
        ``checkpoint``'s, through ``cfg``'s test pipeline."""
        if self.checkpoint is not None:
            device = next(model.parameters()).device if model is not None \
                else 'cpu'
            model = model_from_checkpoint(cfg, self.checkpoint, device)
        if model is None:
            raise ValueError('LabelAgreement needs the model being trained '
                             'or a checkpoint to score with.')
        self.scorer = VariantScorer(model, config_test_pipeline(cfg),
                                    self.batch_size)
        return self

    def judge(self, reader, cache,
              pairs: Sequence[Tuple[int, int]]) -> List[bool]:
        """Whether each (source, variant) of ``pairs`` is kept."""
        if not pairs:
            return []
        sources = sorted({s for s, _ in pairs})
        if reader.is_detection:
            return self._judge_boxes(reader, cache, pairs, sources)
        labels = reader.gt_labels()
        src, _ = self.scorer.classify(reader, cache,
                                      [(s, None) for s in sources])
        var, _ = self.scorer.classify(reader, cache, pairs)
        p_src = {s: src[k, labels[s]] for k, s in enumerate(sources)}
        return [bool(var[k, labels[s]] >= self.min_ratio * p_src[s])
                for k, (s, _) in enumerate(pairs)]

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
