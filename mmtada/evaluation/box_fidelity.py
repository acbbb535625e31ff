"""How well a variant keeps its source's boxes."""
from typing import Optional

import numpy as np


def psnr(mse: float) -> float:
    """PSNR in dB of 8-bit images with mean squared error ``mse``."""
    return float('inf') if mse == 0 else float(10 * np.log10(255**2 / mse))


def pixel_change(source: np.ndarray, variant: np.ndarray,
                 bboxes: np.ndarray) -> dict:
    """Mean absolute and mean squared change (0-255 scale) of ``variant``
    against ``source`` inside the union of ``bboxes`` (xyxy, undilated)
    and outside it. NaN for an empty region."""
    h, w = source.shape[:2]
    inside = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in np.asarray(bboxes, np.float64).reshape(-1, 4):
        inside[max(0, int(np.floor(y1))):max(0, int(np.ceil(y2))),
               max(0, int(np.floor(x1))):max(0, int(np.ceil(x2)))] = True
    diff = variant.astype(np.float64) - source.astype(np.float64)
    out = {}
    for name, region in (('inside', inside), ('outside', ~inside)):
        if not region.any():
            out[f'mad_{name}'] = out[f'mse_{name}'] = float('nan')
            continue
        d = diff[region]
        out[f'mad_{name}'] = float(np.abs(d).mean())
        out[f'mse_{name}'] = float((d**2).mean())
    return out


def found_fraction(gt_bboxes: np.ndarray, gt_labels: np.ndarray,
                   pred, num_classes: int, iou_thr: float = 0.5,
                   score_thr: float = 0.3) -> Optional[float]:
    """Fraction of ground-truth boxes a detector's ``pred``
    (``pred_instances``) finds: a prediction of the box's class with IoU
    >= ``iou_thr`` and score >= ``score_thr``. None without boxes."""
    import torch

    from mmtada.selection import match_instances
    if len(gt_bboxes) == 0:
        return None
    rows = match_instances(torch.as_tensor(gt_bboxes), pred.bboxes,
                           pred.scores, pred.labels, num_classes, iou_thr)
    own = rows.gather(1, torch.as_tensor(gt_labels).long()[:, None])
    return float((own >= score_thr).float().mean())


def box_fidelity_rows(reader, cache, pairs, found_source=None,
                      found_variant=None) -> list:
    """Per variant ``(source, variant)`` of ``pairs``: its boxes, the
    change inside and outside them (:func:`pixel_change`), and, given,
    the fraction of its boxes a detector found on the source and on the
    variant (dicts by source and by pair)."""
    rows, cached = [], {}
    for s, v in pairs:
        if s not in cached:
            ann = reader.source_annotation(s)
            keep = ann['ignore_flags'] == 0
            cached = {s: (reader.source_image(s), ann['bboxes'][keep])}
        src, boxes = cached[s]
        row = dict(source=int(s), variant=int(v), boxes=len(boxes),
                   **pixel_change(src, cache.read(s, v), boxes))
        if found_source is not None:
            row.update(found_source=found_source[s],
                       found_variant=found_variant[(s, v)])
        rows.append(row)
    return rows


def measure_box_fidelity(reader, cache, pairs, scorer=None,
                         iou_thr: float = 0.5,
                         score_thr: float = 0.3) -> tuple:
    """(rows, summary) of the box fidelity of ``pairs``: pixel change
    inside and outside the boxes and, with ``scorer`` (a
    :class:`~mmtada.filters.VariantScorer` of a detector trained on the
    originals), the fraction of boxes found on the sources and on the
    variants (same class, IoU >= ``iou_thr``, score >= ``score_thr``)."""
    found_src = found_var = None
    if scorer is not None:
        sources = sorted({s for s, _ in pairs})
        num_classes = len(reader.classes)

        def found(items):
            out = {}
            for item, pred in zip(items, scorer.detect(reader, cache, items)):
                ann = reader.source_annotation(item[0])
                keep = ann['ignore_flags'] == 0
                out[item] = found_fraction(
                    ann['bboxes'][keep], ann['labels'][keep], pred,
                    num_classes, iou_thr, score_thr)
            return out

        found_src = {s: f for (s, _), f in found(
            [(s, None) for s in sources]).items()}
        found_var = found(list(pairs))
    rows = box_fidelity_rows(reader, cache, pairs, found_src, found_var)
    summary = summarize_box_fidelity(rows)
    if scorer is not None:
        summary.update(iou_thr=iou_thr, score_thr=score_thr)
    return rows, summary


def summarize_box_fidelity(rows: list) -> dict:
    """Means over ``rows`` (PSNR of the pooled squared error)."""

    def mean(key):
        values = [r[key] for r in rows
                  if r.get(key) is not None and np.isfinite(r[key])]
        return float(np.mean(values)) if values else float('nan')

    summary = dict(
        variants=len(rows), sources=len({r['source'] for r in rows}),
        mad_inside=mean('mad_inside'), mad_outside=mean('mad_outside'),
        psnr_inside=psnr(mean('mse_inside')),
        psnr_outside=psnr(mean('mse_outside')))
    if rows and 'found_variant' in rows[0]:
        summary.update(found_source=mean('found_source'),
                       found_variant=mean('found_variant'))
    return summary


def _small(img: np.ndarray, side: int = 64) -> np.ndarray:
    import cv2
    return cv2.resize(img, (side, side),
                      interpolation=cv2.INTER_AREA).astype(np.float64)


def background_spread(images, seed: int = 0, pairs: int = 200) -> float:
    """The median mean absolute difference between two different real
    images (each at 64x64): the unit of :func:`outside_novelty`."""
    rng = np.random.RandomState(seed)
    small = [_small(img) for img in images]
    d = [np.abs(small[i] - small[j]).mean()
         for i, j in rng.randint(len(small), size=(pairs, 2)) if i != j]
    return float(np.median(d)) if d else float('nan')


def outside_novelty(source: np.ndarray, variant: np.ndarray,
                    bboxes: np.ndarray, unit: float) -> float:
    """How much the scene outside the boxes changed, at 64x64, in units of
    :func:`background_spread` (0: kept; about 1: as different as another
    image)."""
    h, w = source.shape[:2]
    inside = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in np.asarray(bboxes, np.float64).reshape(-1, 4):
        inside[max(0, int(y1)):max(0, int(np.ceil(y2))),
               max(0, int(x1)):max(0, int(np.ceil(x2)))] = 1
    outside = _small(1 - inside) > 0.5
    if not outside.any():
        return float('nan')
    d = np.abs(_small(variant) - _small(source))[outside]
    return float(d.mean()) / unit
