"""Run a config with TADA in either mode: one call, one command."""
import copy
import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .base_dataset import tada_wrapper_parent

SELECT_SUBDIR = 'select'


def is_lag_hook(hook_cfg) -> bool:
    return str(hook_cfg.get('type', '')).split('.')[-1] in (
        'LearningLagHook', 'DetLearningLagHook')


def find_lag_hook(cfg: Config) -> Optional[ConfigDict]:
    """The (Det)LearningLagHook entry of ``cfg.custom_hooks`` (or None)."""
    hooks = [h for h in cfg.get('custom_hooks') or []
             if is_lag_hook(h)]
    if len(hooks) > 1:
        raise ValueError('the config has more than one LearningLagHook in '
                         'custom_hooks; keep one.')
    return hooks[0] if hooks else None


def without_tada(cfg: Config) -> Config:
    """The same config with TADA taken out: no LearningLagHook, and the
    dataset that TADADataset wraps trained on alone (the baseline)."""
    cfg = copy.deepcopy(cfg)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks') or []
        if not is_lag_hook(h)
    ]
    parent = tada_wrapper_parent(cfg)
    if parent is not None:
        parent.dataset = parent.dataset.dataset
    return cfg


def build_runner(cfg: Config) -> Runner:
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def selection_path(work_dir: str) -> str:
    """Where the first run of restart mode writes its selection."""
    return osp.join(work_dir, SELECT_SUBDIR, 'tada', 'selection.json')


def train(cfg: Config) -> Runner:
    """Train ``cfg``; with ``LearningLagHook(mode='restart')`` in two runs.

    ``in_run`` (or no hook): one ordinary run.

    ``restart``: unless ``<work_dir>/select/tada/selection.json`` exists,
    a first run in ``<work_dir>/select`` trains on the real data alone
    (``num_slots=0``) up to ``select_epoch``, selects and stops. Then a run
    from scratch in ``<work_dir>`` trains the full schedule with that
    selection applied before its first epoch. ``cfg.resume`` (``--resume
    auto``) applies to whichever run is due, each in its own work dir, so an
    interrupted restart-mode job picks up where it stopped. Every rank runs
    this same function; the selection file must be on a file system that
    all ranks see (the work dir).
    """
    hook = find_lag_hook(cfg)
    if hook is None or hook.get('mode', 'in_run') != 'restart' \
            or hook.get('selection'):
        runner = build_runner(cfg)
        runner.train()
        return runner
    path = selection_path(cfg.work_dir)
    if not osp.exists(path):
        first = copy.deepcopy(cfg)
        first.work_dir = osp.join(cfg.work_dir, SELECT_SUBDIR)
        parent = tada_wrapper_parent(first)
        if parent is not None:
            parent.dataset.num_slots = 0
        runner = build_runner(first)
        print_log('TADA restart mode, run 1/2: train on the real data to '
                  'select_epoch and select.', logger='current')
        runner.train()
        if not osp.exists(path):
            raise RuntimeError(
                f'the selection run ended without writing {path}: check that '
                'select_epoch <= max_epochs and that the run was not stopped '
                'early.')
    second = copy.deepcopy(cfg)
    find_lag_hook(second).selection = path
    runner = build_runner(second)
    print_log('TADA restart mode, run 2/2: train from scratch on the '
              f'augmented data (selection {path}).', logger='current')
    runner.train()
    return runner
