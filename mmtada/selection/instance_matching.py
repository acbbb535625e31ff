"""Score ground-truth boxes against a detector's predictions."""
import torch


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box in ``a`` (K, 4) with every box in ``b`` (P, 4),
    both xyxy; degenerate boxes have IoU 0 with everything."""
    a, b = a.float(), b.float()
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(
        min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(
        min=0)
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12),
                       torch.zeros_like(inter))


def match_instances(gt_bboxes: torch.Tensor, pred_bboxes: torch.Tensor,
                    pred_scores: torch.Tensor, pred_labels: torch.Tensor,
                    num_classes: int, iou_thr: float = 0.5) -> torch.Tensor:
    """Per ground-truth box and class, the best score of a prediction of
    that class overlapping the box with IoU >= ``iou_thr`` (0 if none).

    Row ``k`` is instance ``k``'s analogue of a classifier's output: the
    instance is learned when its own class's entry reaches the score
    threshold; the whole row is what the k-means rule clusters.

    Returns:
        (K, num_classes) float tensor in [0, 1].
    """
    k = len(gt_bboxes)
    out = torch.zeros(k, num_classes)
    if k == 0 or len(pred_bboxes) == 0:
        return out
    iou = box_iou(gt_bboxes.cpu(), pred_bboxes.cpu())
    scores = torch.where(iou >= iou_thr, pred_scores.cpu().float()[None],
                         torch.zeros_like(iou))
    labels = pred_labels.cpu().long()[None].expand(k, -1)
    return out.scatter_reduce_(1, labels, scores, reduce='amax')
