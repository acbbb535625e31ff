"""Eval-mode pass over the training set with the test pipeline."""
import copy
from typing import Callable, List

import torch
from mmengine.dataset import Compose
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.amp import autocast

from mmtada.utils.config_pipeline import config_test_pipeline

# mmdet's PackDetInputs defaults, which drop sample_idx.
DET_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                 'scale_factor', 'flip', 'flip_direction')


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


class ProbeSet(torch.utils.data.Dataset):
    """Every base sample of a :class:`~mmtada.datasets.SampleReader`
    through one pipeline, with ``sample_idx`` set to its base index."""

    def __init__(self, reader, pipeline: Compose):
        self.reader = reader
        self.pipeline = pipeline

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, idx: int):
        info = self.reader.data_info(idx)
        info['sample_idx'] = idx
        data = self.pipeline(info)
        if data is None:
            raise RuntimeError(
                f'the test pipeline returned None for training sample {idx}'
                ': the probe needs every training image to pass it.')
        return data


class TrainSetProbe:
    """Runs the model in eval mode over every base training sample.

    The probe set is the base samples of the :class:`TADADataset`'s
    reader (``sample_idx`` is the base index, after any filtering the
    datasets did when they loaded; each read from its own leaf dataset)
    through the config's test pipeline, ``sample_idx`` added to its meta
    keys. ``DefaultSampler(shuffle=False)`` splits it across ranks; each
    rank hands its outputs to ``consume`` and the caller reduces across
    ranks (``LagStats.end_epoch``, count-weighted, so the sampler's padding
    duplicates are exact). Costs one inference pass over the training set;
    logs progress.

    Args:
        runner: the running Runner (config, fp16 setting).
        reader (SampleReader): the base training samples.
        batch_size (int, optional): Defaults to None: the training batch
            size.
        num_workers (int, optional): Defaults to None: the training
            loader's.
    """

    def __init__(self, runner, reader, batch_size=None, num_workers=None):
        cfg = runner.cfg
        probe = ProbeSet(reader, Compose(with_sample_idx(
            config_test_pipeline(cfg))))
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
