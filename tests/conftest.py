import copy
import os
import os.path as osp

import mmtada  # noqa: F401  (first: applies the compatibility fixes)
import pytest
from mmengine.config import Config

PACK = [dict(type='mmpretrain.PackInputs')]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """With pytest-xdist installed (requirements/tests.txt) and no ``-n``
    given: ``-n auto --dist worksteal``, a worker per core. Without it, or
    with ``-n 0``, ``--pdb`` or ``-p no:xdist``, the tests run in this
    process (so the option never breaks a plain pytest)."""
    if (config.pluginmanager.hasplugin('xdist')
            and not hasattr(config, 'workerinput')
            and config.option.numprocesses is None
            and not config.option.usepdb and not config.option.collectonly):
        config.option.numprocesses = 'auto'
        if config.option.dist == 'no':
            config.option.dist = 'worksteal'


def pytest_configure(config):
    """Under pytest-xdist, each worker's share of the cores in torch
    threads (2 workers on 2 cores: 1 each), in the worker and, through
    ``OMP_NUM_THREADS``, in the tools its tests start. Threads contending
    for the same cores make these small models several times slower (a
    CPU-bound test 5x). A given ``OMP_NUM_THREADS`` is kept."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', 1))
    if workers > 1 and 'OMP_NUM_THREADS' not in os.environ:
        import torch
        cores = len(os.sched_getaffinity(0)) if hasattr(
            os, 'sched_getaffinity') else os.cpu_count() or 1
        threads = max(1, cores // workers)
        torch.set_num_threads(threads)
        os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = \
            str(threads)


# The longest tests (about a minute or more on one core), longest first,
# by name prefix.
LONGEST = ('test_ablate_', 'test_demo_', 'test_train_diffusion_then_',
           'test_dry_run_reports_', 'test_detection_two_processes_',
           'test_classification_two_processes_', 'test_bccd_config_')


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the longest tests first, then the other slow
    ones, then the rest (otherwise in their order): the workers start the
    long ones early and fill in with the quick ones, instead of one worker
    ending alone on a long test."""
    def rank(item):
        longest = [i for i, p in enumerate(LONGEST)
                   if item.name.startswith(p)]
        return (longest[0] if longest else len(LONGEST),
                item.get_closest_marker('slow') is None)

    if os.environ.get('PYTEST_XDIST_WORKER'):
        items.sort(key=rank)


def tiny_cls_cfg(work_dir, num_samples=96, max_epochs=3, select_epoch=2,
                 num_slots=48, num_workers=0, persistent_workers=False,
                 **hook):
    """A real mmpretrain classifier on real data (the bundled digits),
    small enough that an epoch takes about a second on CPU."""
    hook_cfg = dict(type='mmtada.LearningLagHook', select_epoch=select_epoch,
                    rule='loss_quantile', num_variants=2)
    hook_cfg.update(hook)
    return Config(dict(
        default_scope='mmpretrain',
        work_dir=str(work_dir),
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(num_classes=10, mean=[127.5] * 3,
                                   std=[127.5] * 3),
            backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                          base_channels=8, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
                      loss=dict(type='CrossEntropyLoss'))),
        train_dataloader=dict(
            batch_size=16,
            num_workers=num_workers,
            persistent_workers=persistent_workers,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(
                type='mmtada.TADADataset',
                num_slots=num_slots,
                dataset=dict(type='mmtada.Digits', split='train',
                             indices=num_samples,
                             pipeline=copy.deepcopy(PACK)))),
        val_dataloader=dict(
            batch_size=64, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='mmtada.Digits', split='test', indices=64,
                         pipeline=copy.deepcopy(PACK))),
        val_evaluator=dict(type='Accuracy', topk=(1, )),
        val_cfg=dict(),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs,
                       val_interval=100),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1000),
            checkpoint=dict(type='CheckpointHook', interval=1)),
        custom_hooks=[hook_cfg],
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING'))


@pytest.fixture
def cls_cfg(tmp_path):
    """Build the tiny classification config in a fresh work dir."""

    def build(**kwargs):
        kwargs.setdefault('work_dir', tmp_path / 'work')
        return tiny_cls_cfg(**kwargs)

    return build


@pytest.fixture
def one_thread():
    """One torch thread for the test, the previous number restored after
    (``torch.set_num_threads`` is process-wide: a test that sets it and
    leaves it slows, or speeds, every test after it)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DIGIT_CLASSES = tuple(str(d) for d in range(10))


@pytest.fixture(scope='session')
def digit_canvases(tmp_path_factory):
    """A COCO-format detection set written by the test: scikit-learn's
    digits on cluttered 96x72 canvases (48 train, 16 val images)."""
    from mmtada.datasets.digit_canvases import write_digit_canvases
    root = tmp_path_factory.mktemp('digit_canvases')
    write_digit_canvases(str(root), 48, 'train')
    write_digit_canvases(str(root), 16, 'test', seed=1)
    return str(root)


# (width, height, file mode) of the mixed COCO set: landscape, portrait,
# square, one panorama wider than 3000 px, grayscale and RGBA files.
MIXED_SIZES = [(160, 96, 'RGB'), (72, 128, 'L'), (100, 100, 'RGBA'),
               (3200, 180, 'RGB'), (64, 48, 'RGB'), (90, 150, 'RGB'),
               (128, 128, 'L'), (150, 60, 'RGBA')]


def write_mixed_coco(root, split='train', sizes=MIXED_SIZES, seed=0):
    """COCO files of images of mixed sizes, aspect ratios and modes, as
    users' detection data are: each a smooth random background with 1-3
    filled rectangles of a class colour, boxed. Returns the json path."""
    import json
    import os

    import numpy as np
    from PIL import Image
    rng = np.random.RandomState(seed)
    colours = [(230, 40, 40), (40, 200, 60), (50, 80, 230)]
    os.makedirs(osp.join(root, split), exist_ok=True)
    images, annotations = [], []
    for i, (w, h, mode) in enumerate(sizes):
        img = np.repeat(np.repeat(rng.randint(
            0, 120, (4, 4, 3)), -(-h // 4), 0), -(-w // 4), 1)[:h, :w]
        img = img.astype(np.uint8)
        for _ in range(rng.randint(1, 4)):
            c = int(rng.randint(3))
            bw = int(rng.randint(max(4, w // 8), max(5, w // 3)))
            bh = int(rng.randint(max(4, h // 8), max(5, h // 3)))
            x, y = int(rng.randint(0, w - bw)), int(rng.randint(0, h - bh))
            img[y:y + bh, x:x + bw] = colours[c]
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i + 1, category_id=c + 1,
                bbox=[x, y, bw, bh], area=bw * bh, iscrowd=0))
        name = f'{split}/{i:03d}.png'
        Image.fromarray(img).convert(mode).save(osp.join(root, name))
        images.append(dict(id=i + 1, file_name=name, width=w, height=h))
    path = osp.join(root, 'annotations', f'{split}.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=[
            dict(id=c + 1, name=n) for c, n in enumerate(MIXED_CLASSES)]), f)
    return path


MIXED_CLASSES = ('red', 'green', 'blue')


@pytest.fixture(scope='session')
def mixed_coco(tmp_path_factory):
    """A COCO detection set of mixed image sizes (8 train, 4 val images)."""
    root = tmp_path_factory.mktemp('mixed_coco')
    write_mixed_coco(str(root), 'train')
    write_mixed_coco(str(root), 'val', MIXED_SIZES[:4], seed=1)
    return str(root)


def tiny_det_cfg(work_dir, data_root, detector='faster-rcnn', max_epochs=2,
                 select_epoch=1, generator=None, num_workers=0, **hook):
    """The repo's TADA config for ``detector`` (inheriting mmdet's R50-FPN
    1x COCO), shrunk for CPU: ResNet-18 with 8 base channels from scratch,
    192x144 inputs, the digit canvases as data."""
    cfg = Config.fromfile(osp.join(
        REPO, 'configs', f'tada_{detector}_r50_fpn_1x_coco.py'))
    scale = (192, 144)
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=scale, keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=scale, keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=(
            'img_id', 'img_path', 'ori_shape', 'img_shape',
            'scale_factor'))]

    def data(split, pipeline, **kw):
        return dict(type='CocoDataset', data_root=data_root,
                    ann_file=f'annotations/{split}.json',
                    data_prefix=dict(img=''),
                    metainfo=dict(classes=DIGIT_CLASSES),
                    pipeline=pipeline, **kw)

    feat = 16
    model = dict(
        backbone=dict(depth=18, base_channels=8, init_cfg=None),
        neck=dict(in_channels=[8, 16, 32, 64], out_channels=feat))
    if detector == 'faster-rcnn':
        model.update(
            rpn_head=dict(in_channels=feat, feat_channels=feat),
            roi_head=dict(
                bbox_roi_extractor=dict(out_channels=feat),
                bbox_head=dict(in_channels=feat, fc_out_channels=32,
                               num_classes=10)))
    else:
        model.update(bbox_head=dict(in_channels=feat, feat_channels=feat,
                                    stacked_convs=1, num_classes=10))
    hook_cfg = dict(cfg.custom_hooks[-1], select_epoch=select_epoch,
                    num_variants=2, rule='unlearned',
                    generator=generator or dict(type='mmtada.Upsample'))
    hook_cfg.update(hook)
    val_loader = dict(
        batch_size=4, num_workers=0, persistent_workers=False,
        dataset=data('test', test_pipeline, test_mode=True))
    ann = osp.join(data_root, 'annotations', 'test.json')
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir),
        model=model,
        train_dataloader=dict(
            batch_size=4, num_workers=num_workers,
            persistent_workers=num_workers > 0,
            dataset=dict(num_slots=24,
                         dataset=data('train', train_pipeline))),
        val_dataloader=val_loader,
        test_dataloader=val_loader,
        val_evaluator=dict(ann_file=ann),
        test_evaluator=dict(ann_file=ann),
        train_cfg=dict(max_epochs=max_epochs, val_interval=max_epochs),
        param_scheduler=[],
        optim_wrapper=dict(optimizer=dict(lr=0.01)),
        default_hooks=dict(logger=dict(interval=1000),
                           checkpoint=dict(interval=1)),
        randomness=dict(seed=0),
        log_level='WARNING'))
    cfg.custom_hooks = [hook_cfg]
    return cfg


@pytest.fixture
def det_cfg(tmp_path, digit_canvases):
    """Build the tiny detection config in a fresh work dir."""

    def build(**kwargs):
        kwargs.setdefault('work_dir', tmp_path / 'work')
        return tiny_det_cfg(data_root=digit_canvases, **kwargs)

    return build


@pytest.fixture(scope='session')
def pixel_weights(tmp_path_factory):
    """A tiny random class-conditional UNet2DModel, saved as users' are."""
    from mmtada.testing import save_tiny_pixel_model
    return save_tiny_pixel_model(str(tmp_path_factory.mktemp('pixel')))


@pytest.fixture(scope='session')
def latent_weights(tmp_path_factory):
    """A tiny random Stable Diffusion folder, saved as users' are."""
    from mmtada.testing import save_tiny_latent_model
    return save_tiny_latent_model(str(tmp_path_factory.mktemp('latent')))


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_cli(cfg, work_dir, *args, nproc=1, timeout=600, check=True):
    """Train ``cfg`` (dumped to ``<work_dir>.py``) as a user does: one
    process (``tools/train.py``), or the README's multi-GPU command,
    ``torchrun --nproc_per_node=nproc -m mmtada train``, with gloo. One
    thread per process, so the runs are bitwise comparable. Returns the
    completed process (stdout + stderr in ``.stdout``)."""
    import os
    import subprocess
    import sys
    cfg_path = f'{work_dir}.py'
    cfg.dump(cfg_path)
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg_path,
           '--work-dir', str(work_dir), *args]
    if nproc > 1:
        cmd = [sys.executable, '-m', 'torch.distributed.run',
               f'--nproc_per_node={nproc}', f'--master_port={free_port()}',
               '-m', 'mmtada', 'train', *cmd[2:], '--launcher', 'pytorch']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    out = subprocess.run(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True,
                         timeout=timeout)
    if check:
        assert out.returncode == 0, out.stdout[-4000:]
    return out


def run_log(work_dir) -> str:
    """The text of every mmengine log file of the runs in ``work_dir``."""
    import glob
    return ''.join(open(p).read() for p in sorted(glob.glob(
        osp.join(str(work_dir), '*', '*.log'))))


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(name, size, read_only)`` -> path of a real tmpfs: a full or
    read-only disk, for the cache's error paths. Unmounted after."""
    import os
    import subprocess
    mounted = []
    sudo = [] if os.geteuid() == 0 else ['sudo', '-n']

    def mount(name, size='64k', read_only=False):
        path = tmp_path / name
        path.mkdir()
        opts = f'size={size}' + (',ro' if read_only else '')
        out = subprocess.run(
            sudo + ['mount', '-t', 'tmpfs', '-o', opts, 'tmpfs', str(path)],
            capture_output=True, text=True)
        if out.returncode:
            pytest.skip(f'cannot mount a tmpfs here: {out.stderr.strip()}')
        mounted.append(path)
        return str(path)

    mount.remount = lambda path, opts: subprocess.run(
        sudo + ['mount', '-o', f'remount,{opts}', str(path)], check=True)
    yield mount
    for path in mounted:
        subprocess.run(sudo + ['umount', '-l', str(path)])
