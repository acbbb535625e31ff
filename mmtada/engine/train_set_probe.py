"""Eval-mode pass over the training set with the test pipeline."""
import copy
from typing import Callable, List

import torch
from mmengine.dataset import Compose
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.amp import autocast

# mmdet's PackDetInputs defaults, which drop sample_idx.
DET_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                 'scale_factor', 'flip', 'flip_direction')


def _test_pipeline(cfg) -> List[dict]:
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset', {}).get('pipeline') is not None:
            return copy.deepcopy(list(loader['dataset']['pipeline']))
    raise ValueError(
        'the learning-lag probe runs the training images through the test '
        'pipeline, but the config has neither test_dataloader nor '
        'val_dataloader with a dataset pipeline; add one.')


def with_sample_idx(pipeline: List[dict]) -> List[dict]:
    """The pipeline with ``sample_idx`` added to its packing transform's
    ``meta_keys`` (mmdet's ``PackDetInputs`` drops it by default)."""
    pipeline = copy.deepcopy(pipeline)
    for t in reversed(pipeline):
        if not isinstance(t, dict):
            continue
        if 'meta_keys' in t:
            if 'sample_idx' not in t['meta_keys']:
                t['meta_keys'] = tuple(t['meta_keys']) + ('sample_idx', )
            break
        if str(t.get('type', '')).endswith('PackDetInputs'):
            t['meta_keys'] = DET_META_KEYS + ('sample_idx', )
            break
    return pipeline


class TrainSetProbe:
    """Runs the model in eval mode over every base training sample.

    The probe dataset is the very dataset object a :class:`TADADataset`
    wraps (so ``sample_idx`` is the base index, after any filtering the
    dataset did when it loaded), shallow-copied with the config's test
    pipeline, ``sample_idx`` added to its meta keys. ``DefaultSampler(
    shuffle=False)`` splits it across ranks; each rank hands its outputs to
    ``consume`` and the caller reduces across ranks (``LagStats.end_epoch``,
    count-weighted, so the sampler's padding duplicates are exact). Costs
    one inference pass over the training set; logs progress.

    Args:
        runner: the running Runner (config, fp16 setting).
        dataset: the base training dataset (``TADADataset.dataset``).
        batch_size (int, optional): defaults to the training batch size.
        num_workers (int, optional): defaults to the training loader's.
    """

    def __init__(self, runner, dataset, batch_size=None, num_workers=None):
        cfg = runner.cfg
        probe = copy.copy(dataset)
        probe.pipeline = Compose(with_sample_idx(_test_pipeline(cfg)))
        probe.test_mode = True
        train = cfg.train_dataloader
        loader = dict(
            dataset=probe,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=batch_size or train.get('batch_size', 32),
            num_workers=train.get('num_workers', 0)
            if num_workers is None else num_workers)
        if train.get('collate_fn') is not None:  # else the Runner's default
            loader['collate_fn'] = copy.deepcopy(train['collate_fn'])
        self.dataloader = Runner.build_dataloader(loader)
        val_cfg = cfg.get('val_cfg') or {}
        self.fp16 = bool(val_cfg.get('fp16', False))

    @torch.no_grad()
    def run(self, model, consume: Callable[[list], None]) -> None:
        """One eval pass; ``consume(outputs)`` gets each batch's data
        samples (with ``sample_idx`` in their metainfo)."""
        module = model.module if is_model_wrapper(model) else model
        was_training = module.training
        model.eval()
        total = len(self.dataloader)
        step = max(1, total // 4)
        try:
            for i, data in enumerate(self.dataloader):
                with autocast(enabled=self.fp16):
                    outputs = model.val_step(data)
                consume(outputs)
                if (i + 1) % step == 0 or i + 1 == total:
                    print_log(f'TADA probe: {i + 1}/{total} batches',
                              logger='current')
        finally:
            model.train(was_training)
