"""Measure how well a detection run's variants keep their boxes.

    python tools/box_fidelity.py CONFIG --work-dir WORK_DIR
        [--checkpoint DETECTOR.pth] [--iou-thr 0.5] [--score-thr 0.3]
        [--device cpu] [--cfg-options k=v ...]

For every variant the run serves (its selection's, after the variant
filter; from the run's cache): how much the inside of its boxes changed
against the outside (mean absolute change 0-255, and PSNR of the pooled
squared error; inf: unchanged). With ``--checkpoint`` (a detector trained
on the original images), also the fraction of ground-truth boxes it finds
(same class, IoU >= --iou-thr, score >= --score-thr) on the variants
against on their sources, reading the images with the config's test
pipeline as training reads them. Prints a table and writes
``WORK_DIR/tada/box_fidelity.json``. (tools/variant_quality.py gives the
same and the novelty of the scene outside the boxes.)
"""
import argparse

from mmtada.utils.setup_env import setup_env  # first: before torchvision
from mmengine.config import Config, DictAction

from mmtada.apis import open_run
from mmtada.evaluation.box_fidelity import measure_box_fidelity
from mmtada.filters import VariantScorer, model_from_checkpoint
from mmtada.utils import atomic_write_json
from mmtada.utils.config_pipeline import config_test_pipeline


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--work-dir', required=True, help='the TADA run')
    p.add_argument('--checkpoint', help='detector trained on the originals')
    p.add_argument('--iou-thr', type=float, default=0.5)
    p.add_argument('--score-thr', type=float, default=0.3)
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    run = open_run(cfg, args.work_dir)
    reader, cache, layout = run.reader, run.cache, run.layout
    pairs = [p for p in run.pairs if cache.has(*p)]
    if not pairs:
        raise SystemExit(f'no variant of {run.selection_path} in '
                         f'{cache.dir}: run the training (or '
                         'tools/generate.py) first.')
    scorer = None
    if args.checkpoint:
        scorer = VariantScorer(
            model_from_checkpoint(cfg, args.checkpoint, args.device),
            config_test_pipeline(cfg), scope=cfg.get('default_scope'))
    rows, summary = measure_box_fidelity(reader, cache, pairs, scorer,
                                         args.iou_thr, args.score_thr)
    atomic_write_json(layout.box_fidelity, dict(
        summary=summary, cache=cache.dir, variants=rows), indent=1)
    print(f"{summary['variants']} variants of {summary['sources']} images")
    print('region   | mean abs change (0-255) | PSNR dB')
    for region in ('inside', 'outside'):
        print(f'{region:8} | {summary["mad_" + region]:23.2f} | '
              f'{summary["psnr_" + region]:.2f}')
    if scorer is not None:
        print(f"GT boxes found (IoU>={args.iou_thr}, score>="
              f"{args.score_thr}): sources {summary['found_source']:.3f}, "
              f"variants {summary['found_variant']:.3f}")
    print(f'written {layout.box_fidelity}')


if __name__ == '__main__':
    main()
