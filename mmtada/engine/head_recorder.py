"""Per-sample statistics from the training forward of a classifier."""
from typing import Optional

import torch
import torch.nn.functional as F

from mmtada.selection import LagStats


def class_count_error(model_classes: int, data_classes: int) -> str:
    return (f'the model outputs {model_classes} classes but the dataset '
            f'has {data_classes}: set num_classes of the head and of the '
            'data preprocessor to the number of classes of the dataset.')


def find_head(model, head_path: str, required: bool = True):
    """The submodule of ``model`` at ``head_path`` (``'head'``,
    ``'head.fc'``, ...); None when it has none and it is not
    ``required``."""
    module = model
    for name in head_path.split('.'):
        if not hasattr(module, name):
            if not required:
                return None
            raise AttributeError(
                f"LearningLagHook: the model has no '{head_path}'; set "
                'head_path to the module that outputs class scores, or '
                "record='probe'.")
        module = getattr(module, name)
    return module


class HeadRecorder:
    """Keeps the classification head's training output and adds the real
    samples of each batch to :class:`LagStats`: no extra forward pass.

    A torch forward hook on ``head`` holds the output of the last training
    forward (detached, any dtype: it is cast to fp32 when used, so AMP
    is fine; a tuple of logits, as ``ConformerHead`` gives, is summed as
    its ``predict`` does); :meth:`consume` turns it into per-sample
    log-probabilities keyed by each data sample's ``source_idx``, and
    skips synthetic items and items that no :class:`TADADataset` served
    (another part of a ``ConcatDataset``: they carry no ``source_idx``).
    Runs in the training process of each rank; the caller reduces across
    ranks (:meth:`LagStats.end_epoch`).

    Args:
        head (nn.Module): the module whose output is (batch, classes).
        head_path (str): its attribute path, for error messages.
    """

    def __init__(self, head: torch.nn.Module, head_path: str):
        self.head_path = head_path
        self._captured: Optional[torch.Tensor] = None
        self._handle = head.register_forward_hook(self._capture)

    def _capture(self, module, args, output) -> None:
        if not module.training:
            return
        if isinstance(output, (tuple, list)) and output and all(
                isinstance(o, torch.Tensor) for o in output):
            output = sum(output)  # several heads' logits: as their predict
        if not isinstance(output, torch.Tensor):
            raise RuntimeError(
                f"LearningLagHook: '{self.head_path}' outputs a "
                f'{type(output).__name__}, not class scores; point '
                'head_path at the module whose output is (batch, classes), '
                "or use record='probe'.")
        self._captured = output.detach()

    def remove(self) -> None:
        """Stop recording (the forward hook is removed)."""
        self._handle.remove()
        self._captured = None

    def consume(self, data_samples, stats: LagStats) -> None:
        """Add the held output for ``data_samples`` (the batch's data
        samples, in batch order) to ``stats``; nothing if none is held."""
        if self._captured is None:
            return
        logits, self._captured = self._captured, None
        if logits.dim() != 2 or len(logits) != len(data_samples):
            raise RuntimeError(
                f"LearningLagHook: '{self.head_path}' gave outputs of shape "
                f'{tuple(logits.shape)} for {len(data_samples)} samples; '
                "point head_path at the module whose output is (batch, "
                "classes), or use record='probe'.")
        if logits.shape[1] != stats.num_classes:
            raise ValueError(class_count_error(logits.shape[1],
                                               stats.num_classes))
        keep = [not s.metainfo.get('is_synthetic', False)
                and 'source_idx' in s.metainfo for s in data_samples]
        if not any(keep):
            return
        real = [s for s, k in zip(data_samples, keep) if k]
        idx = torch.tensor([s.metainfo['source_idx'] for s in real])
        labels = torch.cat([s.gt_label.view(-1)[:1] for s in real])
        keep_t = torch.tensor(keep, device=logits.device)
        stats.update(idx, F.log_softmax(logits[keep_t].float(), 1), labels)
