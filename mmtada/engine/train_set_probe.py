"""Eval-mode pass over the training set, for configs whose training
forward has no hard labels (Mixup/CutMix)."""
import copy

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.amp import autocast


def _test_pipeline(cfg):
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset', {}).get('pipeline') is not None:
            return copy.deepcopy(loader['dataset']['pipeline'])
    raise ValueError(
        'the learning-lag probe runs the training images through the test '
        'pipeline, but the config has neither test_dataloader nor '
        'val_dataloader with a dataset pipeline; add one.')


class TrainSetProbe:
    """Scores every base training sample with the model in eval mode.

    The probe dataset is the config's inner training dataset (the one
    :class:`TADADataset` wraps) with the test pipeline, so ``sample_idx``
    is the base index. ``DefaultSampler(shuffle=False)`` splits it across
    ranks; each rank adds what it saw to :class:`LagStats` and
    ``LagStats.end_epoch`` sums the ranks (count-weighted, so the padding
    duplicates are exact). Costs one inference pass over the training set.

    Args:
        runner: the running Runner (config, model, fp16 setting).
        batch_size (int, optional): defaults to the training batch size.
        num_workers (int, optional): defaults to the training loader's.
    """

    def __init__(self, runner, batch_size=None, num_workers=None):
        cfg = runner.cfg
        inner = cfg.train_dataloader.dataset.get('dataset')
        if not isinstance(inner, dict):
            raise ValueError(
                'the learning-lag probe rebuilds the training set from the '
                'config: train_dataloader.dataset must be a TADADataset '
                'config whose `dataset` is a config dict.')
        dataset = copy.deepcopy(inner)
        dataset['pipeline'] = _test_pipeline(cfg)
        dataset['test_mode'] = True
        train = cfg.train_dataloader
        loader = dict(
            dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=batch_size or train.get('batch_size', 32),
            num_workers=train.get('num_workers', 0)
            if num_workers is None else num_workers,
            collate_fn=copy.deepcopy(
                train.get('collate_fn', dict(type='default_collate'))))
        self.dataloader = Runner.build_dataloader(loader)
        val_cfg = cfg.get('val_cfg') or {}
        self.fp16 = bool(val_cfg.get('fp16', False))

    @torch.no_grad()
    def run(self, model, stats) -> None:
        """Add one eval pass to ``stats`` (call ``stats.end_epoch`` next)."""
        module = model.module if is_model_wrapper(model) else model
        was_training = module.training
        model.eval()
        try:
            for i, data in enumerate(self.dataloader):
                with autocast(enabled=self.fp16):
                    outputs = model.val_step(data)
                idx = torch.tensor(
                    [o.metainfo['sample_idx'] for o in outputs])
                labels = torch.cat([o.gt_label for o in outputs])
                scores = torch.stack([o.pred_score for o in outputs])
                stats.update(idx, scores.float().clamp_min(1e-12).log(),
                             labels)
                if (i + 1) % 50 == 0:
                    print_log(f'TADA probe: {i + 1}/{len(self.dataloader)} '
                              'batches', logger='current')
        finally:
            model.train(was_training)
