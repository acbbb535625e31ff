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
