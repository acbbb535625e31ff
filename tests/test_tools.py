"""tools/train.py and tools/test.py, as a user runs them."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config

from mmtada.utils import RunLayout

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'tada_resnet18_digits.py')
SHORT = ['train_cfg.max_epochs=2', 'custom_hooks.0.select_epoch=1',
         'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
         'train_dataloader.dataset.dataset.indices=200']


@pytest.fixture(autouse=True)
def digits_weights(monkeypatch, pixel_weights):
    """The digits config's generator reads TADA_WEIGHTS (default: the
    demo's model): here a tiny random pixel model, made by the test."""
    monkeypatch.setenv('TADA_WEIGHTS', pixel_weights)


def run(*args):
    out = subprocess.run([sys.executable, *args], capture_output=True,
                         text=True, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


def test_train_resume_and_test_from_the_command_line(tmp_path):
    work = str(tmp_path / 'work')
    log = run('tools/train.py', CONFIG, '--work-dir', work,
              '--cfg-options', *SHORT)
    assert 'TADA selection (kmeans, epoch 1)' in log
    sel = json.load(open(osp.join(work, 'tada', 'selection.json')))
    assert sel['num_samples'] == 200
    # --resume (auto) continues from epoch 2 with the same selection
    log = run('tools/train.py', CONFIG, '--work-dir', work, '--resume',
              '--cfg-options', *SHORT[1:], 'train_cfg.max_epochs=3')
    assert 'TADA resumed' in log and 'Epoch(train) [3]' in log
    assert 'made, ' in log and '0 made' in log
    log = run('tools/test.py', CONFIG, osp.join(work, 'epoch_3.pth'),
              '--work-dir', work, '--cfg-options', *SHORT[3:4])
    assert 'accuracy/top1' in log


def test_variant_quality_of_a_run_and_in_its_report(tmp_path,
                                                    pixel_weights):
    """A baseline is the reference; tools/variant_quality.py scores the
    served variants of a TADA run whose filter walks a strength ladder;
    the report shows the table and the strengths per class; a sweep
    scores a ladder beside fixed strengths without a run."""
    base = str(tmp_path / 'base')
    run('tools/train.py', CONFIG, '--baseline', '--work-dir', base,
        '--cfg-options', *SHORT, 'default_hooks.checkpoint.interval=2')
    ref = osp.join(base, 'epoch_2.pth')
    ladder = tmp_path / 'ladder.py'
    ladder.write_text(
        f'_base_ = [{CONFIG!r}]\n'
        'custom_hooks = [dict(_base_.custom_hooks[0], generator=dict('
        f'type="mmtada.PixelSDEdit", weights={pixel_weights!r}, '
        'num_inference_steps=4), variant_filter=dict('
        'type="mmtada.LabelAgreement", strengths=(0.9, 0.5)))]\n')
    work = str(tmp_path / 'tada')
    log = run('tools/train.py', str(ladder), '--work-dir', work,
              '--cfg-options', *SHORT)
    assert 'served at strength 0.9: ' in log
    log = run('tools/variant_quality.py', str(ladder), '--work-dir', work,
              '--checkpoint', ref, '--cfg-options', *SHORT)
    quality = json.load(open(osp.join(work, 'tada', 'variant_quality.json')))
    summary = quality['summary']
    served = json.load(open(osp.join(work, 'tada', 'served.json')))
    assert summary['variants'] == len(
        {tuple(p) for p in served['pairs'] if p[1] is not None})
    assert set(served['strengths']) <= {0.9, 0.5, None}
    per_class = served['strengths_per_class']
    assert sum(n for row in per_class.values() for n in row.values()) == \
        len(served['pairs'])
    assert 0 <= summary['label_kept'] <= 1 and summary['novelty'] > 0
    assert set(quality['per_class']) <= {str(d) for d in range(10)}
    assert '| all |' in log and 'label kept' in log
    run('tools/report.py', work)
    page = open(osp.join(work, 'tada', 'report.html')).read()
    assert 'Variant quality' in page and 'served at strength 0.9' in page
    assert 'Strengths the variants were served at, per class' in page
    # a sweep: fixed strengths and a ladder, each through the filter
    out = str(tmp_path / 'sweep')
    log = run('tools/variant_quality.py', CONFIG, '--weights',
              pixel_weights, '--checkpoint', ref, '--judge', ref,
              '--strengths', '0.5', '--ladder', '0.9,0.5', '--sources', '20',
              '--variants', '1', '--steps', '4', '--out', out,
              '--cfg-options', *SHORT)
    sweep = json.load(open(osp.join(out, 'variant_quality.json')))
    arms = sweep['summary']
    assert set(arms) == {'0.5', 'ladder 0.9>0.5'}
    assert sum(arms['ladder 0.9>0.5']['strengths'].values()) == 20
    for arm in arms.values():
        assert arm['makes_per_served'] >= 1 and 0 <= arm['served'] <= 1
    assert 'makes per served variant' in log


def test_train_diffusion_stops_at_its_minutes_and_keeps_grey_grey(tmp_path):
    diff = str(tmp_path / 'd')
    log = run('tools/train_diffusion.py', CONFIG, '--work-dir', diff,
              '--steps', '100000', '--minutes', '0.05', '--batch-size', '8',
              '--channels', '16,32', '--num-workers', '0',
              '--max-strength', '0.5', '--prediction', 'v',
              '--cfg-options', 'train_dataloader.dataset.dataset.indices=64')
    assert ', grey,' in log and 't < 0.5T, v_prediction' in log
    done = json.load(open(osp.join(diff, 'training.json')))
    assert 0 < done['steps_done'] < 100000 and done['seconds'] >= 3
    unet = json.load(open(osp.join(diff, 'pipeline', 'unet',
                                   'config.json')))
    sched = json.load(open(osp.join(diff, 'pipeline', 'scheduler',
                                    'scheduler_config.json')))
    assert unet['in_channels'] == 1  # the digits are grey
    assert sched['prediction_type'] == 'v_prediction'
    # resumed with more minutes, it goes on from where it stopped
    log = run('tools/train_diffusion.py', CONFIG, '--work-dir', diff,
              '--steps', '100000', '--minutes', '0.1', '--batch-size', '8',
              '--channels', '16,32', '--num-workers', '0',
              '--max-strength', '0.5', '--prediction', 'v', '--resume',
              '--cfg-options', 'train_dataloader.dataset.dataset.indices=64')
    assert f"resumed from step {done['steps_done']}" in log
    assert json.load(open(osp.join(diff, 'training.json')))[
        'steps_done'] > done['steps_done']


def test_baseline_flag_trains_without_tada(tmp_path):
    work = str(tmp_path / 'base')
    log = run('tools/train.py', CONFIG, '--baseline', '--work-dir', work,
              '--cfg-options', *SHORT)
    # (TADA_WEIGHTS, in mmengine's line on the config's variables, is not
    # TADA running)
    assert 'TADA' not in log.replace('TADA_WEIGHTS', '')
    assert not osp.exists(osp.join(work, 'tada'))
    assert 'Epoch(train) [2][7/7]' in log  # 200 real samples, batch 32


def test_train_diffusion_fine_tunes_a_pretrained_pixel_model(tmp_path):
    """--init-from: an unconditional pixel model saved as users' are is
    fine-tuned on the digits (its architecture, resolution and scheduler
    kept, a class embedding added) and PixelSDEdit loads the result; a
    --resolution it does not have is one error."""
    from diffusers import UNet2DModel

    from mmtada.generators import PixelSDEdit
    from mmtada.testing import save_tiny_pixel_model
    pre = save_tiny_pixel_model(str(tmp_path / 'pre'), num_classes=0)
    out = str(tmp_path / 'tuned')
    args = ['tools/train_diffusion.py', CONFIG, '--work-dir', out,
            '--batch-size', '16', '--num-workers', '0', '--cfg-options',
            'train_dataloader.dataset.dataset.indices=64']
    log = run(*args, '--steps', '3', '--init-from', pre)
    assert '64 images, 10 classes, 16px, UNet' in log and f'from {pre}' in log
    unet = UNet2DModel.from_pretrained(osp.join(out, 'pipeline'),
                                       subfolder='unet')
    assert unet.config.num_class_embeds == 10
    assert tuple(unet.config.block_out_channels) == (16, 32)
    gen = PixelSDEdit(osp.join(out, 'pipeline'), num_inference_steps=4)
    img = np.full((8, 8, 3), 128, np.uint8)
    [variant] = gen.generate([img], [dict(gt_label=3)], [0])
    assert variant.shape == img.shape
    bad = subprocess.run([sys.executable, *args, '--steps', '1',
                          '--init-from', pre, '--resolution', '32'],
                         capture_output=True, text=True, cwd=REPO,
                         timeout=600)
    assert bad.returncode != 0 and '--resolution 32 does not fit' in \
        bad.stderr


def test_train_diffusion_then_generate_with_it(tmp_path):
    """tools/train_diffusion.py makes weights PixelSDEdit loads; with them,
    tools/generate.py makes a selection's variants in two shards, and a
    training run with that generator finds them all cached."""
    from mmengine.config import Config

    from mmtada.datasets import TADADataset
    from mmtada.selection import Selection

    diff = str(tmp_path / 'diffusion')
    args = ['tools/train_diffusion.py', CONFIG, '--work-dir', diff,
            '--batch-size', '16', '--channels', '16,32', '--num-workers',
            '0', '--save-interval', '3', '--cfg-options',
            'train_dataloader.dataset.dataset.indices=200']
    log = run(*args, '--steps', '3')
    assert 'saved' in log and '200 images, 10 classes, 16px' in log
    log = run(*args, '--steps', '5', '--resume')
    assert 'resumed from step 3' in log
    weights = osp.join(diff, 'pipeline')
    assert osp.exists(osp.join(weights, 'unet', 'config.json'))

    cfg = Config.fromfile(CONFIG)
    ds = TADADataset(dict(cfg.train_dataloader.dataset.dataset,
                          indices=200, pipeline=[]), num_slots=0)
    sel_path = str(tmp_path / 'selection.json')
    Selection(rule='kmeans', epoch=1, indices=[3, 50, 120], num_samples=200,
              per_class_counts={}, per_class_totals={},
              scores=[0.0] * 200,
              dataset=ds.reader.fingerprint()).dump(sel_path)
    work = str(tmp_path / 'work')
    gen_opts = [
        'train_dataloader.dataset.dataset.indices=200',
        'custom_hooks.0.generator.type=mmtada.PixelSDEdit',
        f'custom_hooks.0.generator.weights={weights}',
        'custom_hooks.0.generator.num_inference_steps=10',
        f'custom_hooks.0.num_variants={cfg.num_variants}'
    ]
    logs = [run('tools/generate.py', CONFIG, '--selection', sel_path,
                '--work-dir', work, '--shard', f'{i}/2', '--cfg-options',
                *gen_opts) for i in range(2)]
    k = cfg.num_variants
    made = [int(line.split(': ')[1].split(' made')[0])
            for log in logs for line in log.splitlines() if ' made (' in line]
    assert sum(made) == 3 * k and min(made) > 0
    log = run('tools/generate.py', CONFIG, '--selection', sel_path,
              '--work-dir', work, '--cfg-options', *gen_opts)
    assert '0 made' in log and f'{3 * k} already cached' in log
    # the restart-mode training run with this selection reuses them
    log = run('tools/train.py', CONFIG, '--work-dir', work, '--cfg-options',
              *gen_opts, *SHORT[:4],
              f'custom_hooks.0.selection={sel_path}')
    assert f'{3 * k} variants (0 made, {3 * k} reused)' in log


BCCD_SHORT = [
    'model.backbone.depth=18', 'model.backbone.base_channels=8',
    'model.backbone.init_cfg=None', 'model.neck.in_channels=[8,16,32,64]',
    'model.neck.out_channels=16', 'model.rpn_head.in_channels=16',
    'model.rpn_head.feat_channels=16',
    'model.roi_head.bbox_roi_extractor.out_channels=16',
    'model.roi_head.bbox_head.in_channels=16',
    'model.roi_head.bbox_head.fc_out_channels=32',
    'train_dataloader.dataset.dataset.indices=12',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.dataset.indices=4', 'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False',
    'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
    'custom_hooks.0.select_epoch=1', 'custom_hooks.0.rule=unlearned',
    'custom_hooks.0.num_variants=1',
    'custom_hooks.0.generator.box_strength=0.0',
    'custom_hooks.0.generator.generator.num_inference_steps=4']


def test_bccd_config_trains_and_box_fidelity_measures_its_variants(
        tmp_path, pixel_weights, monkeypatch):
    """configs/tada_faster-rcnn_r50_fpn_bccd.py on the shared BCCD set,
    shrunk to a few iterations; then tools/box_fidelity.py on the run."""
    bccd = osp.join(REPO, '..', 'shared', 'data', 'bccd')
    if not osp.isdir(bccd):
        pytest.skip('shared BCCD set absent')
    monkeypatch.setenv('DATA_ROOT', bccd)
    config = osp.join(REPO, 'configs', 'tada_faster-rcnn_r50_fpn_bccd.py')
    work = str(tmp_path / 'bccd')
    short = BCCD_SHORT + [
        f'custom_hooks.0.generator.generator.weights={pixel_weights}']
    log = run('tools/train.py', config, '--work-dir', work,
              '--cfg-options', *short)
    # every cell lags after one epoch; the config caps images at 35%
    assert 'TADA selection (unlearned, epoch 1): 4/12 images' in log
    assert 'Epoch(train) [2]' in log and 'bbox_mAP' in log
    log = run('tools/box_fidelity.py', config, '--work-dir', work,
              '--checkpoint', osp.join(work, 'epoch_2.pth'),
              '--cfg-options', *short)
    report = json.load(open(osp.join(work, 'tada', 'box_fidelity.json')))
    summary = report['summary']
    assert summary['variants'] == 4 and summary['mad_inside'] == 0
    assert summary['mad_outside'] > 0
    assert 0 <= summary['found_variant'] <= 1
    assert 'GT boxes found' in log
    out = str(tmp_path / 'grid.png')
    log = run('tools/variant_grid.py', config, '--work-dir', work, '--out',
              out, '--rows', '3', '--cell', '80', '--cfg-options', *short)
    import cv2
    grid = cv2.imread(out)
    # 3 rows of 80x60 cells (640x480 images), a source and its variant
    assert grid.shape == (14 + 3 * 62 + 2, 2 * 82 + 2, 3)


def test_ablate_runs_every_arm_writes_the_table_and_resumes(
        tmp_path, pixel_weights):
    work = str(tmp_path / 'ablate')
    opts = ['--cfg-options', *SHORT,
            'custom_hooks.0.num_variants=2',
            'custom_hooks.0.generator.type=mmtada.PixelSDEdit',
            f'custom_hooks.0.generator.weights={pixel_weights}',
            'custom_hooks.0.generator.num_inference_steps=4']
    arms = ('baseline', 'baseline_steps', 'useful', 'useful_k2', 'tada',
            'tada_nofilter', 'random', 'all')
    log = run('tools/ablate.py', CONFIG, '--seeds', '1', '--work-dir', work,
              '--arms', ','.join(arms), *opts)
    for arm in arms:
        assert f'ran {arm} seed 0' in log
    assert log.index('ran tada seed 0') < log.index('ran baseline seed 0')
    res = {arm: json.load(open(osp.join(work, arm, 'seed0', 'result.json')))
           for arm in arms}
    assert res['baseline']['generation'] is None
    assert res['baseline_steps']['generation'] is None
    steps, tada = (Config.fromfile(osp.join(work, arm, 'seed0', 'config.py'))
                   for arm in ('baseline_steps', 'tada'))
    assert steps.train_dataloader.dataset == tada.train_dataloader.dataset
    assert not steps.custom_hooks  # as many items as TADA, all real
    assert res['useful_k2']['generation']['total'] == \
        2 * res['useful_k2']['selected']
    assert 0 <= res['tada']['metric'] <= 100
    n = res['tada']['selected']
    assert res['random']['selected'] == n  # same size, other samples
    assert res['random']['generation']['total'] == 2 * n
    assert res['all']['selected'] == 200
    rand = json.load(open(osp.join(work, 'random', 'seed0', 'tada',
                                   'selection.json')))
    tada = json.load(open(osp.join(work, 'tada', 'seed0', 'tada',
                                   'selection.json')))
    assert rand['indices'] != tada['indices']
    table = open(osp.join(work, 'ablation.md')).read()
    assert table.count('\n') == 2 + len(arms) and '| tada |' in table
    csv = open(osp.join(work, 'ablation.csv')).read().splitlines()
    assert csv[0].startswith('arm,runs,diverged,mean') and \
        len(csv) == 1 + len(arms)
    # a second seed: finished runs are skipped, new ones run
    os.remove(osp.join(work, 'baseline', 'seed0', 'result.json'))
    log = run('tools/ablate.py', CONFIG, '--seeds', '2', '--arms',
              'baseline', '--work-dir', work, *opts)
    assert 'ran baseline seed 0' in log and 'ran baseline seed 1' in log
    resumed = open(osp.join(work, 'baseline', 'seed0', 'train.log')).read()
    assert 'resumed epoch: 2' in resumed
    log = run('tools/ablate.py', CONFIG, '--seeds', '2', '--arms',
              'baseline', '--work-dir', work, *opts)
    assert 'done baseline seed 0' in log and 'done baseline seed 1' in log


def test_report_page_loads_every_image_in_headless_chromium(tmp_path):
    """tools/report.py on a real run, rendered by Chromium: the page's own
    script counts the images that decoded."""
    import shutil
    browser = shutil.which('chromium') or shutil.which('chromium-browser')
    if browser is None:
        if os.environ.get('MMTADA_REQUIRE_BROWSER'):
            pytest.fail('chromium is not installed: apt-get install '
                        'chromium (CI installs it).')
        pytest.skip('chromium is not installed (apt-get install chromium)')
    work = str(tmp_path / 'work')
    run('tools/train.py', CONFIG, '--work-dir', work, '--cfg-options',
        *SHORT)
    run('tools/report.py', work)
    page = osp.join(work, 'tada', 'report.html')
    # The page marks <body data-images=...> once its images decoded; a
    # loaded machine can dump the DOM first, so render again if the mark
    # is missing (never if it is wrong).
    for _ in range(3):
        out = subprocess.run(
            [browser, '--headless', '--no-sandbox', '--disable-gpu',
             '--virtual-time-budget=10000', '--dump-dom', 'file://' + page],
            capture_output=True, text=True, timeout=120)
        if 'data-images=' in out.stdout:
            break
    # class fractions, score histogram, hard examples, the selected
    # against the rest until the selection, training curves
    assert 'data-images="5/5"' in out.stdout, out.stderr[-2000:]
    text = open(page).read()
    assert 'Generation cost' in text and 'whole dataset x4' in text
    assert 'src="data:image/png;base64,' in text and 'src="http' not in text


def test_demo_classification_end_to_end(tmp_path):
    """tools/demo.py, shortened: baseline, diffusion model, TADA, report."""
    work = str(tmp_path / 'demo')
    log = run('tools/demo.py', '--epochs', '2', '--diffusion-steps', '4',
              '--work-dir', work)
    assert 'TADA selection (kmeans, epoch 1)' in log
    for arm in ('baseline', 'USEFUL (copies)', 'TADA (SDEdit)'):
        assert f'| {arm} | ' in log
    assert 'variant quality: label kept' in log
    assert osp.exists(osp.join(work, 'report.html'))
    # the filter walked its strength ladder, and said where each landed
    assert ', served at strength 0.5: ' in log
    served = json.load(open(RunLayout(osp.join(work, 'tada')).served))
    assert set(served['strengths']) <= {0.5, 0.35, 0.2, None}
    assert len(served['strengths']) == len(served['pairs'])


def test_demo_detection_end_to_end(tmp_path):
    """tools/demo.py --detection, shortened (a test apart from the
    classification demo, so that pytest-xdist runs the two at once)."""
    work = str(tmp_path / 'demo_det')
    log = run('tools/demo.py', '--detection', '--epochs', '2',
              '--diffusion-steps', '4', '--images', '12', '--work-dir', work)
    assert 'instances per class 0:' in log
    for arm in ('baseline', 'USEFUL (copies)',
                'TADA (box-preserving SDEdit)'):
        assert f'| {arm} | ' in log
    assert 'GT boxes found on the sources' in log
    assert osp.exists(RunLayout(osp.join(work, 'tada')).variant_quality)
