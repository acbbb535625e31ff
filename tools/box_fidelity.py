"""Measure how well a detection run's variants keep their boxes.

    python tools/box_fidelity.py CONFIG --work-dir WORK_DIR
        [--checkpoint DETECTOR.pth] [--iou-thr 0.5] [--score-thr 0.3]
        [--device cpu] [--cfg-options k=v ...]

For every variant of the run's selection (``WORK_DIR/tada/selection.json``,
variants from the run's cache): how much the inside of its boxes changed
against the outside (mean absolute change 0-255, and PSNR of the pooled
squared error; inf: unchanged). With
``--checkpoint`` (a detector trained on the original images), also the
fraction of ground-truth boxes it finds (same class, IoU >= --iou-thr,
score >= --score-thr) on the variants against on their sources. Prints a
table and writes ``WORK_DIR/tada/box_fidelity.json``.
"""
import argparse

import mmtada  # noqa: F401  (first: applies the compatibility fixes)
import numpy as np
from mmengine.config import Config, DictAction

from mmtada.apis import build_tada_parts, open_run_cache
from mmtada.evaluation import found_fraction, pixel_change, psnr
from mmtada.selection import Selection
from mmtada.utils import RunLayout, atomic_write_json


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


def mean(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float('nan')


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    layout = RunLayout(args.work_dir)
    sel_path = layout.selection
    selection = Selection.load(sel_path)
    parts = build_tada_parts(cfg, args.work_dir)
    reader, hook, cache = parts.reader, parts.hook, open_run_cache(parts)
    selection.check_dataset(reader.fingerprint(), len(reader), sel_path)
    variants = {s: [v for v in range(hook.num_variants) if cache.has(s, v)]
                for s in selection.indices}
    if not any(variants.values()):
        raise SystemExit(f'no variant of {sel_path} in {cache.dir}: run the '
                         'training (or tools/generate.py) first.')
    model = None
    if args.checkpoint:
        from mmdet.apis import inference_detector, init_detector
        model = init_detector(cfg, args.checkpoint, device=args.device)
        num_classes = len(reader.classes)

    def found(path, boxes, labels):
        return found_fraction(
            boxes, labels, inference_detector(model, path).pred_instances,
            num_classes, args.iou_thr, args.score_thr)

    rows, found_src, found_var = [], [], []
    for s, vs in variants.items():
        if not vs:
            continue
        src, ann = reader.source_image(s), reader.source_annotation(s)
        keep = ann['ignore_flags'] == 0
        boxes, labels = ann['bboxes'][keep], ann['labels'][keep]
        if model is not None:
            found_src.append(found(
                reader.data_info(s)['img_path'], boxes, labels))
        for v in vs:
            row = dict(source=s, variant=v, boxes=int(keep.sum()),
                       **pixel_change(src, cache.read(s, v), boxes))
            if model is not None:
                row['found_source'] = found_src[-1]
                row['found_variant'] = found(cache.path(s, v), boxes, labels)
                found_var.append(row['found_variant'])
            rows.append(row)
    summary = dict(
        variants=len(rows), sources=len({r['source'] for r in rows}),
        mad_inside=mean(r['mad_inside'] for r in rows),
        mad_outside=mean(r['mad_outside'] for r in rows),
        psnr_inside=psnr(mean(r['mse_inside'] for r in rows)),
        psnr_outside=psnr(mean(r['mse_outside'] for r in rows)))
    if model is not None:
        summary.update(found_source=mean(found_src),
                       found_variant=mean(found_var),
                       iou_thr=args.iou_thr, score_thr=args.score_thr)
    out = layout.box_fidelity
    atomic_write_json(out, dict(summary=summary, cache=cache.dir,
                                variants=rows), indent=1)
    print(f"{summary['variants']} variants of {summary['sources']} images")
    print('region   | mean abs change (0-255) | PSNR dB')
    for region in ('inside', 'outside'):
        print(f'{region:8} | {summary["mad_" + region]:23.2f} | '
              f'{summary["psnr_" + region]:.2f}')
    if model is not None:
        print(f"GT boxes found (IoU>={args.iou_thr}, score>="
              f"{args.score_thr}): sources {summary['found_source']:.3f}, "
              f"variants {summary['found_variant']:.3f}")
    print(f'written {out}')


if __name__ == '__main__':
    main()
