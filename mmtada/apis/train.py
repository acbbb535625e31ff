"""Run a config with TADA in either mode: one call, one command."""
import copy
import os.path as osp
import uuid
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmtada.engine.hooks.learning_lag_hook import check_mode
from mmtada.selection import Selection
from mmtada.utils import RunLayout
from .config_helpers import tada_wrapper_parent

# The settings configs/_base_/tada_{cls,det}.py define.
FRAGMENT_KEYS = ('tada_hook', 'tada_generator', 'tada_dataset')


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


def tada_mode(cfg: Config) -> Optional[str]:
    """The config's TADA mode (the hook's ``mode``: ``'in_run'`` by
    default), or None without TADA."""
    hook = find_lag_hook(cfg)
    return None if hook is None else check_mode(hook.get('mode', 'in_run'))


def without_tada(cfg: Config) -> Config:
    """The same config with TADA taken out: no LearningLagHook, the
    dataset that TADADataset wraps trained on alone, and no TADA fragment
    settings (the baseline)."""
    cfg = copy.deepcopy(cfg)
    for key in FRAGMENT_KEYS:
        cfg.pop(key, None)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks') or []
        if not is_lag_hook(h)
    ]
    parent = tada_wrapper_parent(cfg)
    if parent is not None:
        parent.dataset = parent.dataset.dataset
    return cfg


def own_visualizer(cfg: Config) -> None:
    """Rename ``cfg``'s visualizer, in place, to a name no other run in
    this process has.

    mmengine keeps one visualizer per name and hands a runner the existing
    one, with the save dir of the run that made it; mmdet's configs name
    theirs ``'visualizer'``, so a second run in one process (restart mode's,
    a test's) would write its scalars into the first run's folder. Unnamed
    visualizers take the experiment's name (config + timestamp) and are
    left as they are."""
    vis = cfg.get('visualizer')
    if isinstance(vis, dict) and vis.get('name'):
        vis['name'] = f"{vis['name']}-{uuid.uuid4().hex[:8]}"


def build_runner(cfg: Config) -> Runner:
    """The config's runner, with a visualizer of its own
    (:func:`own_visualizer`, applied to ``cfg`` in place)."""
    own_visualizer(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def selection_path(work_dir: str) -> str:
    """Where the first run of restart mode writes its selection."""
    return RunLayout(work_dir).select_run.selection


def run_config(cfg: Config, **hook) -> Config:
    """``cfg`` as one run of :func:`train` builds it: a copy with the
    hook's run-protocol key (``mode``) replaced by ``hook``'s plain
    settings (``stop_after_selection``, ``selection``)."""
    cfg = copy.deepcopy(cfg)
    lag_hook = find_lag_hook(cfg)
    if lag_hook is not None:
        lag_hook.pop('mode', None)
        lag_hook.update(hook)
    return cfg


def _run(cfg: Config, **hook) -> Runner:
    runner = build_runner(run_config(cfg, **hook))
    runner.train()
    return runner


def train_judge(cfg: Config) -> str:
    """The variant filter's judge of a restart-mode run: ``cfg`` without
    TADA trained on the real data for the whole schedule in
    ``<work_dir>/judge``, saved as ``judge/judge.pth`` (weights only).
    Trained once: an existing ``judge.pth`` is returned as it is; an
    interrupted judge run resumes with ``cfg.resume``."""
    work_dir = RunLayout(cfg.work_dir).judge_run.work_dir
    path = osp.join(work_dir, 'judge.pth')
    if not osp.exists(path):
        judge = without_tada(cfg)
        judge.work_dir = work_dir
        print_log('TADA restart mode: training the variant filter\'s judge '
                  'on the real data (once; set variant_filter.checkpoint to '
                  'a baseline checkpoint to skip it).', logger='current')
        runner = _run(judge)
        runner.save_checkpoint(work_dir, 'judge.pth',
                               save_optimizer=False,
                               save_param_scheduler=False)
    return path


def train(cfg: Config) -> Runner:
    """Train ``cfg``; with ``LearningLagHook(mode='restart')`` in two runs.

    ``in_run`` (or no hook): one ordinary run.

    ``restart`` (the paper's protocol, run here and nowhere else): unless
    ``<work_dir>/select/tada/selection.json`` exists, a first run in
    ``<work_dir>/select`` trains on the real data alone (``num_slots=0``)
    up to ``select_epoch``, selects and stops (the hook's
    ``stop_after_selection``). Then a run from scratch in ``<work_dir>``
    trains the full schedule with that selection applied before its first
    epoch (the hook's ``selection``), with a slot for each variant (selected
    x ``num_variants``) unless the wrapper sets ``num_slots`` itself: the
    data the paper trains on, every variant served once an epoch. A variant
    filter without a ``checkpoint`` scores with a judge trained here: the
    config without TADA, the whole schedule, in ``<work_dir>/judge``
    (once; its ``judge.pth`` reused): the model at the selection reads too
    many images wrong to judge (README: on the CIFAR-10 subset, variants it
    kept held their label no better than unfiltered ones).
    ``checkpoint='selection'`` scores with the model at the selection
    instead (run 1 saves it as ``select/epoch_<k>.pth``): no extra run.
    Each run logs in its own work dir (:func:`build_runner`).
    ``cfg.resume`` (``--resume auto``) applies to whichever run is due,
    each in its own work dir, so an interrupted restart-mode job picks up
    where it stopped. Every rank runs this same function; the selection
    file must be on a file system that all ranks see (the work dir).
    """
    if tada_mode(cfg) != 'restart' or find_lag_hook(cfg).get('selection'):
        return _run(cfg)
    layout = RunLayout(cfg.work_dir)
    path = layout.select_run.selection
    if not osp.exists(path):
        first = copy.deepcopy(cfg)
        first.work_dir = layout.select_run.work_dir
        parent = tada_wrapper_parent(first)
        if parent is not None:
            parent.dataset.num_slots = 0
        print_log('TADA restart mode, run 1/2: train on the real data to '
                  'select_epoch and select.', logger='current')
        _run(first, stop_after_selection=True)
        if not osp.exists(path):
            raise RuntimeError(
                f'the selection run ended without writing {path}: check that '
                'select_epoch <= max_epochs and that the run was not stopped '
                'early.')
    second = copy.deepcopy(cfg)
    selection = Selection.load(path)
    hook = find_lag_hook(second)
    parent = tada_wrapper_parent(second)
    if parent is not None and parent.dataset.get('num_slots') is None:
        # The selection is known: a slot for each variant.
        k = int(hook.get('num_variants', 5))
        parent.dataset.num_slots = len(selection.indices) * k
    judge = hook.variant_filter.get('checkpoint') \
        if hook.get('variant_filter') else False
    if judge == 'selection':  # the model being trained, at the selection
        hook.variant_filter.checkpoint = osp.join(
            layout.select_run.work_dir, f'epoch_{selection.epoch}.pth')
    elif judge is None:
        hook.variant_filter.checkpoint = train_judge(cfg)
    print_log('TADA restart mode, run 2/2: train from scratch on the '
              f'augmented data (selection {path}).', logger='current')
    return _run(second, selection=path)
