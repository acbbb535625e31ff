"""Refuse to select from a training that diverged."""
import numpy as np
import torch
from mmengine import dist


def check_finite(runner, model, stats, epoch: int) -> None:
    """Collective (every rank calls it at the selection): raise one error
    naming the remedies when the training loss in the runner's message
    hub, ``model``'s weights or the outputs :class:`LagStats` recorded this
    epoch are not finite on any rank."""
    bad = []
    hub = runner.message_hub
    if 'train/loss' in hub.log_scalars:
        values = hub.get_scalar('train/loss').data[0]
        if len(values) and not np.isfinite(values).all():
            bad.append('training loss')
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        bad.append('model weights')
    if stats.nonfinite and stats.nonfinite[-1]:
        bad.append(f'{stats.nonfinite[-1]} recorded outputs')
    flags = torch.tensor([float(bool(bad))])
    dist.all_reduce(flags, op='sum')
    if flags.item():
        raise RuntimeError(
            f'TADA: the training diverged before select_epoch={epoch} '
            f"({', '.join(bad) or 'on another rank'} not finite): a "
            'selection would come from meaningless statistics. Lower the '
            'learning rate, clip gradients (optim_wrapper=dict(clip_grad='
            'dict(max_norm=10))) or add a warm-up (a LinearLR '
            'param_scheduler), and train again.')
