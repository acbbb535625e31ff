"""What JPEG storage of the variants saves, and what it costs them.

    python tools/benchmark/variant_codec.py CONFIG --work-dir RUN
        [--checkpoint JUDGE] [--quality 95,90] [--max 1000] [--json FILE]
    python tools/benchmark/variant_codec.py --images 'DIR/*.jpg'
        [--shift 4] [--quality 95,90] [--max 100] [--json FILE]

A run's served variants (``--work-dir``; its cache is PNG, lossless): per
JPEG quality, bytes per variant against the PNG's, PSNR of the JPEG
against the PNG, encode + decode milliseconds, and with ``--checkpoint``
(classification) the fraction whose label the judge reads right on each.
A JPEG cache stores the very pixels the PNG holds, encoded (the generator
runs before the codec), so this is what ``variant_codec='source'`` would
serve. ``--images``: photos (e.g. BCCD's) stand in for variants of that
size and content, for bytes and PSNR; ``--shift 4`` crops 4 px off their
top and left, so that their JPEG blocks no longer align with the new
codec's (re-encoding an aligned JPEG is nearly lossless, which a
variant's new pixels are not).
"""
import argparse
import glob
import tempfile
import time

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import cv2
import numpy as np
from mmengine.config import Config

from mmtada.apis import open_run
from mmtada.filters import VariantScorer
from mmtada.filters.variant_scoring import model_from_checkpoint
from mmtada.generators import VariantCache, VariantCodec
from mmtada.utils import atomic_write_json
from mmtada.utils.config_pipeline import config_test_pipeline
from mmtada.utils.image_format import to_rgb8


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', nargs='?')
    p.add_argument('--work-dir')
    p.add_argument('--images', help='a glob of photos instead of a run')
    p.add_argument('--shift', type=int, default=0)
    p.add_argument('--checkpoint', help='a judge (classification runs)')
    p.add_argument('--quality', default='95,90')
    p.add_argument('--max', type=int, default=1000)
    p.add_argument('--json')
    args = p.parse_args()
    if bool(args.images) == bool(args.config and args.work_dir):
        p.error('give CONFIG --work-dir RUN, or --images GLOB')
    return args


def codec_row(images, quality):
    """Bytes, PSNR and milliseconds of ``images`` (as stored: BGR) in
    JPEG at ``quality`` against PNG; the decoded JPEGs."""
    png, jpeg = VariantCodec(), VariantCodec('jpeg', quality)
    png_bytes, jpeg_bytes, psnr, decoded, ms = [], [], [], [], 0.0
    for img in images:
        png_bytes.append(len(png.encode(img)))
        start = time.perf_counter()
        data = jpeg.encode(img)
        back = cv2.imdecode(np.frombuffer(data, np.uint8),
                            cv2.IMREAD_UNCHANGED)
        ms += 1000 * (time.perf_counter() - start)
        jpeg_bytes.append(len(data))
        psnr.append(cv2.PSNR(back, img))
        decoded.append(back)
    return dict(quality=quality, png_bytes=float(np.mean(png_bytes)),
                jpeg_bytes=float(np.mean(jpeg_bytes)),
                ratio=float(np.sum(jpeg_bytes) / np.sum(png_bytes)),
                psnr=float(np.mean(psnr)), psnr_min=float(np.min(psnr)),
                codec_ms=ms / len(images)), decoded


def label_kept(scorer, reader, cache, pairs):
    probs, _ = scorer.classify(reader, cache, pairs)
    labels = reader.gt_labels()[[s for s, _ in pairs]]
    return float((probs.argmax(1) == labels).mean())


def main():
    setup_env()
    args = parse_args()
    qualities = [int(q) for q in args.quality.split(',')]
    out = dict(rows=[])
    if args.images:
        files = sorted(glob.glob(args.images))
        files = [files[i] for i in np.unique(np.linspace(
            0, len(files) - 1, args.max).astype(int))]
        images = [np.ascontiguousarray(cv2.imread(
            f, cv2.IMREAD_UNCHANGED)[args.shift:, args.shift:])
            for f in files]
        out['images'] = dict(glob=args.images, count=len(images),
                             shape=list(images[0].shape), shift=args.shift)
        for q in qualities:
            out['rows'].append(codec_row(images, q)[0])
    else:
        cfg = Config.fromfile(args.config)
        run = open_run(cfg, args.work_dir)
        pairs = [run.pairs[i] for i in np.unique(np.linspace(
            0, len(run.pairs) - 1, args.max).astype(int))]  # every class
        stored = [run.cache.read(s, v, unchanged=True) for s, v in pairs]
        out['run'] = dict(work_dir=args.work_dir, variants=len(pairs),
                          shape=list(stored[0].shape))
        scorer = None
        if args.checkpoint:
            scorer = VariantScorer(
                model_from_checkpoint(cfg, args.checkpoint),
                config_test_pipeline(cfg),
                scope=cfg.get('default_scope', 'mmpretrain'))
            out['run']['label_kept_png'] = label_kept(
                scorer, run.reader, run.cache, pairs)
        for q in qualities:
            row, decoded = codec_row(stored, q)
            if scorer is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    jpeg = VariantCache(tmp, run.reader.fingerprint(),
                                        run.cache.settings,
                                        codec=VariantCodec('jpeg', q))
                    for (s, v), img in zip(pairs, stored):
                        jpeg.write(s, v, to_rgb8(img),
                                   run.reader.source_format(s))
                    row['label_kept'] = label_kept(scorer, run.reader, jpeg,
                                                   pairs)
            out['rows'].append(row)
    for row in out['rows']:
        extra = f", label kept {row['label_kept']:.3f}" \
            if 'label_kept' in row else ''
        print(f"JPEG q{row['quality']}: {row['jpeg_bytes'] / 1024:.1f} kB "
              f"vs PNG {row['png_bytes'] / 1024:.1f} kB ({row['ratio']:.2f}"
              f"x), PSNR {row['psnr']:.1f} dB (min {row['psnr_min']:.1f}),"
              f" {row['codec_ms']:.1f} ms{extra}")
    if 'label_kept_png' in out.get('run', {}):
        print(f"PNG label kept {out['run']['label_kept_png']:.3f}")
    if args.json:
        atomic_write_json(args.json, out, indent=1)


if __name__ == '__main__':
    main()
