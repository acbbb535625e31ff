"""TADA end to end on an embedded default, with no download.

Classification (default): scikit-learn's bundled handwritten digits and
the small ResNet of ``configs/tada_resnet18_digits.py``. Trains the
baseline; trains a small pixel diffusion model on the digits
(``tools/train_diffusion.py``); trains with TADA (select the slow digits
early, add their SDEdit variants, finish training); prints the selection,
the generation cost and both test accuracies, and writes the run's HTML
report.

``--detection``: the same digits on cluttered canvases with their boxes
(COCO files written to ``WORK_DIR/data``), a small RetinaNet
(``configs/tada_retinanet_r18_digit_canvases.py``) and box-preserving
SDEdit; prints mAP, the per-instance selection and the box fidelity.

    python tools/demo.py [--detection] [--work-dir DIR] [--epochs N]
        [--diffusion-steps S] [--images N]

A rerun reuses what a previous run made (data, diffusion model, variants).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

import mmtada  # noqa: F401  (first: applies the compatibility fixes)
from mmengine.config import Config

from mmtada.apis import find_lag_hook, train, without_tada
from mmtada.utils import RunLayout
from mmtada.utils.run_scalars import divergence, read_scalars
from mmtada.visualization.html_report import write_report

TOOLS = osp.dirname(osp.abspath(__file__))
CONFIGS = osp.join(TOOLS, '..', 'configs')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--detection', action='store_true')
    p.add_argument('--work-dir')
    p.add_argument('--epochs', type=int, help='override max_epochs')
    p.add_argument('--diffusion-steps', type=int, default=900)
    p.add_argument('--images', type=int, default=400,
                   help='--detection: training canvases (test: a quarter)')
    return p.parse_args()


def step(text):
    print(f'\n== {text}', flush=True)


def run(cfg: Config, work_dir: str) -> tuple:
    """Train and test; a run whose loss stopped being finite says so."""
    cfg.work_dir = work_dir
    start = time.perf_counter()
    runner = train(cfg)
    metrics = runner.test()
    diverged = divergence(read_scalars(work_dir))
    if diverged:
        metrics['diverged'] = diverged
        print(f'\nWARNING: the run in {work_dir} diverged ({diverged}): '
              'its result means nothing.')
    return metrics, time.perf_counter() - start


def result(metrics: dict, key: str) -> str:
    note = ' (diverged)' if metrics.get('diverged') else ''
    return f'{metrics.get(key, 0.0):.3f}{note}' if 'bbox' in key \
        else f'{metrics[key]:.2f}%{note}'


def train_diffusion(config, work_dir, steps, resolution=None):
    """tools/train_diffusion.py in its own process (its progress bar shows);
    resumed if a previous demo stopped part-way."""
    pipeline = osp.join(work_dir, 'pipeline')
    if osp.exists(osp.join(pipeline, 'model_index.json')) and osp.exists(
            osp.join(work_dir, 'done')):
        print(f'reusing {pipeline}')
        return pipeline, 0.0
    cmd = [sys.executable, osp.join(TOOLS, 'train_diffusion.py'), config,
           '--work-dir', work_dir, '--steps', str(steps), '--batch-size',
           '64', '--channels', '16,32', '--lr', '5e-4', '--warmup', '50',
           '--num-workers', '0', '--save-interval', '100', '--resume']
    if resolution:
        cmd += ['--resolution', str(resolution)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    open(osp.join(work_dir, 'done'), 'w').close()
    return pipeline, time.perf_counter() - start


def set_epochs(cfg, epochs):
    """A shorter schedule, selecting at 10% of it (at least epoch 1),
    with the last epoch checkpointed."""
    if epochs:
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs
        cfg.default_hooks.checkpoint.interval = epochs
        find_lag_hook(cfg).select_epoch = max(1, round(0.1 * epochs))


def print_selection(sel: dict):
    what = 'images' if sel.get('instances') else 'training digits'
    print(f"selection: rule {sel['rule']} at epoch {sel['epoch']}, "
          f"{len(sel['indices'])}/{sel['num_samples']} {what} "
          f"({100 * sel['fraction']:.1f}%)")
    unit = 'instances ' if sel.get('instances') else ''
    print(f'  {unit}per class: ' + ', '.join(
        f'{c}: {n}/{sel["per_class_totals"][c]}'
        for c, n in sel['per_class_counts'].items()))


def print_generation(work_dir, diffusion_s):
    with open(RunLayout(work_dir).generation) as f:
        gen = json.load(f)
    rate = gen['generated'] / gen['seconds'] if gen['seconds'] else 0
    print(f"generation: {gen['total']} SDEdit variants "
          f"({gen['num_variants']} per selected sample), "
          f"{gen['seconds']:.0f}s ({rate:.1f} img/s); diffusion model "
          f'training {diffusion_s:.0f}s')


def classification(args):
    root = args.work_dir or 'work_dirs/demo'
    config = osp.join(CONFIGS, 'tada_resnet18_digits.py')
    cfg = Config.fromfile(config)
    if args.epochs:
        set_epochs(cfg, args.epochs)
        cfg.param_scheduler.T_max = args.epochs
    step('1/3 baseline: the real digits only')
    base, base_s = run(without_tada(cfg), osp.join(root, 'baseline'))
    step('2/3 a small pixel diffusion model on the training digits')
    weights, diff_s = train_diffusion(config, osp.join(root, 'diffusion'),
                                      args.diffusion_steps)
    step('3/3 TADA: select the slow digits, add SDEdit variants of them')
    find_lag_hook(cfg).generator = dict(
        type='mmtada.PixelSDEdit', weights=weights, strength=0.5,
        num_inference_steps=20, batch_size=256)
    tada, tada_s = run(cfg, osp.join(root, 'tada'))
    work = osp.join(root, 'tada')
    with open(RunLayout(work).selection) as f:
        sel = json.load(f)
    print()
    print_selection(sel)
    print_generation(work, diff_s)
    b, t = base['accuracy/top1'], tada['accuracy/top1']
    print(f"test accuracy: baseline {result(base, 'accuracy/top1')}  |  "
          f"TADA {result(tada, 'accuracy/top1')}  ({t - b:+.2f})")
    print(f'wall time: baseline {base_s:.0f}s, diffusion {diff_s:.0f}s, '
          f'TADA {tada_s:.0f}s')
    print(f"report: {write_report(work, osp.join(root, 'report.html'))}")


def detection(args):
    from mmtada.datasets.digit_canvases import write_digit_canvases
    root = args.work_dir or 'work_dirs/demo_det'
    data = osp.join(root, 'data')
    if not osp.exists(osp.join(data, 'annotations', 'test.json')):
        step('writing digits on cluttered canvases (COCO files)')
        write_digit_canvases(data, args.images, 'train')
        write_digit_canvases(data, max(1, args.images // 4), 'test', seed=1)
    os.environ['DATA_ROOT'] = osp.abspath(data)
    config = osp.join(CONFIGS, 'tada_retinanet_r18_digit_canvases.py')
    cfg = Config.fromfile(config)
    set_epochs(cfg, args.epochs)
    step('1/3 baseline: RetinaNet on the real canvases only')
    base, base_s = run(without_tada(cfg), osp.join(root, 'baseline'))
    step('2/3 a small unconditional pixel diffusion model on the canvases')
    weights, diff_s = train_diffusion(
        config, osp.join(root, 'diffusion'), args.diffusion_steps, 32)
    step('3/3 TADA: select images of lagging instances, add box-preserving '
         'variants')
    hook = find_lag_hook(cfg)
    hook.generator.generator.weights = weights
    tada, tada_s = run(cfg, osp.join(root, 'tada'))
    work = osp.join(root, 'tada')
    with open(RunLayout(work).selection) as f:
        sel = json.load(f)
    step('box fidelity of the variants (detector: the baseline)')
    ckpt = osp.join(root, 'baseline',
                    f'epoch_{cfg.train_cfg.max_epochs}.pth')
    subprocess.run([sys.executable, osp.join(TOOLS, 'box_fidelity.py'),
                    config, '--work-dir', work, '--checkpoint', ckpt,
                    '--cfg-options', f'custom_hooks.0.generator.generator.'
                    f'weights={weights}'], check=True)
    print()
    print_selection(sel)
    print_generation(work, diff_s)
    # CocoMetric returns nothing when a detector finds nothing at all.
    b, t = (m.get('coco/bbox_mAP', 0.0) for m in (base, tada))
    print(f"test bbox mAP: baseline {result(base, 'coco/bbox_mAP')}  |  "
          f"TADA {result(tada, 'coco/bbox_mAP')}  ({t - b:+.3f})")
    print(f'wall time: baseline {base_s:.0f}s, diffusion {diff_s:.0f}s, '
          f'TADA {tada_s:.0f}s')
    print(f"report: {write_report(work, osp.join(root, 'report.html'))}")


def main():
    args = parse_args()
    detection(args) if args.detection else classification(args)


if __name__ == '__main__':
    main()
