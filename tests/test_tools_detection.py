"""Every shipped detection config, and the tools that read a detection
run, on users' kind of data: a COCO set of mixed sizes and aspect ratios
(portrait, landscape, square, one image wider than 3000 px; grayscale and
RGBA files), through the same commands users type."""
import glob
import json
import os.path as osp

import cv2
import pytest
from conftest import MIXED_CLASSES, REPO, train_cli
from mmengine.config import Config

from mmtada.apis import tada_wrapper_parent
from mmtada.utils import RunLayout

pytestmark = pytest.mark.slow

DET_CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '*.py'))
    if Config.fromfile(p).get('default_scope') == 'mmdet')


def shrink(cfg, data_root, generator=None):
    """The config on the mixed set: a ResNet-18 at 8 base channels from
    scratch, 3 classes, 160x120 inputs (aspect kept), one epoch, TADA
    selecting at it."""
    feat = 16
    model = cfg.model
    model.backbone.update(depth=18, base_channels=8, init_cfg=None)
    model.neck.update(in_channels=[8, 16, 32, 64], out_channels=feat)
    if 'roi_head' in model:
        model.rpn_head.update(in_channels=feat, feat_channels=feat)
        model.roi_head.bbox_roi_extractor.out_channels = feat
        model.roi_head.bbox_head.update(
            in_channels=feat, fc_out_channels=32,
            num_classes=len(MIXED_CLASSES))
    else:
        model.bbox_head.update(in_channels=feat, feat_channels=feat,
                               stacked_convs=1,
                               num_classes=len(MIXED_CLASSES))
    base = tada_wrapper_parent(cfg).dataset.dataset
    val = cfg.val_dataloader.dataset
    for ds, split in ((base, 'train'), (val, 'val')):
        ds.update(data_root=data_root, ann_file=f'annotations/{split}.json',
                  data_prefix=dict(img=''),
                  metainfo=dict(classes=MIXED_CLASSES))
        ds.pop('indices', None)
        for t in ds.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (160, 120)
    cfg.test_dataloader = cfg.val_dataloader
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.update(num_workers=0, persistent_workers=False)
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].ann_file = osp.join(data_root, 'annotations', 'val.json')
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1000
    hook = cfg.custom_hooks[-1]
    hook.update(select_epoch=1, rule='unlearned', num_variants=1,
                max_fraction=None, min_instances=1)
    hook.generator = generator or dict(type='mmtada.Upsample')
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    return cfg


@pytest.mark.parametrize('path', DET_CONFIGS, ids=osp.basename)
def test_shipped_detection_config_trains_on_mixed_sizes(path, tmp_path,
                                                        mixed_coco,
                                                        monkeypatch):
    monkeypatch.setenv('DATA_ROOT', mixed_coco)
    cfg = shrink(Config.fromfile(path), mixed_coco)
    work = tmp_path / 'work'
    out = train_cli(cfg, work)
    sel = json.load(open(RunLayout(str(work)).selection))
    assert sel['num_samples'] == 8  # every image, whatever its size
    assert 'Epoch(val) [1]' in out.stdout or 'bbox_mAP' in out.stdout


def test_generate_box_fidelity_and_variant_grid_on_mixed_sizes(
        tmp_path, mixed_coco, pixel_weights, monkeypatch):
    path = osp.join(REPO, 'configs', 'tada_retinanet_r50_fpn_1x_coco.py')
    generator = dict(type='mmtada.BoxPreservingSDEdit', generator=dict(
        type='mmtada.PixelSDEdit', weights=pixel_weights,
        num_inference_steps=4))
    cfg = shrink(Config.fromfile(path), mixed_coco, generator)
    cfg.model.test_cfg.score_thr = 0.0
    work = tmp_path / 'run'
    train_cli(cfg, work)
    layout = RunLayout(str(work))
    sel = json.load(open(layout.selection))
    assert sel['indices']
    cfg_path = f'{work}.py'  # as train_cli dumped it

    import subprocess
    import sys

    def tool(*args):
        out = subprocess.run([sys.executable, *args], cwd=REPO, text=True,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=600)
        assert out.returncode == 0, out.stdout[-3000:]
        return out.stdout

    # the run's selection again, into another work dir: every variant made
    other = tmp_path / 'other'
    log = tool('tools/generate.py', cfg_path, '--selection', layout.selection,
               '--work-dir', str(other))
    assert f"{len(sel['indices'])} made" in log
    log = tool('tools/box_fidelity.py', cfg_path, '--work-dir', str(work),
               '--checkpoint', str(work / 'epoch_1.pth'))
    fid = json.load(open(layout.box_fidelity))['summary']
    assert fid['variants'] == len(sel['indices'])
    assert 0 <= fid['found_variant'] <= 1 and 'GT boxes found' in log
    grid = str(tmp_path / 'grid.png')
    tool('tools/variant_grid.py', cfg_path, '--work-dir', str(work), '--out',
         grid, '--rows', '3', '--cell', '80')
    assert cv2.imread(grid) is not None
