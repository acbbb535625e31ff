"""A model's view of base samples and their variants: class probabilities
and penultimate features (classifiers) or predictions (detectors)."""
import copy
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.model import is_model_wrapper

from mmtada.datasets.tada_dataset import served_info

Item = Tuple[int, Optional[int]]  # (base sample, variant index or None)


class ServedItems(torch.utils.data.Dataset):
    """Base samples and cached variants through one pipeline, each with its
    data info as :class:`~mmtada.datasets.TADADataset` serves it."""

    def __init__(self, reader, cache, items: Sequence[Item], pipeline):
        self.reader, self.cache = reader, cache
        self.items = list(items)
        self.pipeline = pipeline

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        source, variant = self.items[i]
        info = served_info(self.reader, source, variant, self.cache)
        info['sample_idx'] = i
        data = self.pipeline(info)
        if data is None:
            raise RuntimeError(f'the test pipeline returned None for sample '
                               f'{source} (variant {variant}).')
        return data


class VariantScorer:
    """Runs ``model`` in eval mode (no gradients; its training mode is
    restored) over items of a :class:`~mmtada.datasets.SampleReader` and
    its variant cache, through ``pipeline`` (a config's test pipeline: the
    images are read as training reads them). One process; the caller
    splits work across ranks.

    Args:
        model: an mmpretrain classifier or mmdet detector (wrapped or
            not).
        pipeline (list): the test pipeline's transform configs.
        batch_size (int): Defaults to 32.
        num_workers (int): Defaults to 0.
        scope (str, optional): the registry scope the pipeline is built in
            (the config's ``default_scope``). Defaults to None: the
            current one (a Runner's).
    """

    def __init__(self, model, pipeline: List[dict], batch_size: int = 32,
                 num_workers: int = 0, scope: Optional[str] = None):
        from mmengine.registry import DefaultScope
        self.model = model.module if is_model_wrapper(model) else model
        with DefaultScope.overwrite_default_scope(scope):
            self.pipeline = Compose(copy.deepcopy(pipeline))
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)

    def _batches(self, reader, cache, items):
        loader = torch.utils.data.DataLoader(
            ServedItems(reader, cache, items, self.pipeline),
            batch_size=self.batch_size, num_workers=self.num_workers,
            collate_fn=pseudo_collate)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for data in loader:
                    yield data
        finally:
            self.model.train(was_training)

    def classify(self, reader, cache,
                 items: Sequence[Item]) -> Tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, C), penultimate features (n, D)) of
        ``items``: the head's softmax (tuple outputs summed, as
        ``ConformerHead`` predicts) and its ``pre_logits`` input."""
        probs, feats = [], []
        for data in self._batches(reader, cache, items):
            data = self.model.data_preprocessor(data, False)
            x = self.model.extract_feat(data['inputs'])
            head = self.model.head
            logits = head(x)
            if isinstance(logits, (tuple, list)):
                logits = sum(logits)
            pre = head.pre_logits(x)
            if isinstance(pre, (tuple, list)):
                pre = torch.cat([p.flatten(1) for p in pre], 1)
            probs.append(logits.float().softmax(1).cpu())
            feats.append(pre.float().flatten(1).cpu())
        if not probs:
            return np.zeros((0, 0)), np.zeros((0, 0))
        return torch.cat(probs).numpy(), torch.cat(feats).numpy()

    def detect(self, reader, cache, items: Sequence[Item]) -> list:
        """Each item's ``pred_instances`` (original image coordinates)."""
        preds = []
        for data in self._batches(reader, cache, items):
            preds += [out.pred_instances.cpu()
                      for out in self.model.val_step(data)]
        return preds


def model_from_checkpoint(cfg, checkpoint: str, device: str = 'cpu'):
    """The config's model with ``checkpoint``'s weights, in eval mode, in
    the config's scope (an mmpretrain classifier or mmdet detector)."""
    from mmengine.registry import MODELS, DefaultScope
    from mmengine.runner import load_checkpoint
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(copy.deepcopy(cfg.model))
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    return model.to(device).eval()
