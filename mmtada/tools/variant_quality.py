"""How good a run's variants are, or what strength to edit with: measured
by a reference model trained on the real data.

    # a TADA run's variants (the ones it serves)
    python tools/variant_quality.py CONFIG --work-dir RUN --checkpoint REF.pth
        [--max-sources 500]
    # a strength sweep for given weights, without a run
    python tools/variant_quality.py CONFIG --weights DIR --checkpoint REF.pth
        --strengths 0.2,0.35,0.5 --out DIR [--sources 200] [--variants 2]
        [--steps 20] [--generator PixelSDEdit] [--seed 0]
        # the variants a filter would serve, and a strength ladder beside
        # the fixed strengths (the filter's judge is not the reference)
        [--judge JUDGE.pth [--ladder 0.5,0.35,0.2] [--min-ratio 0.5]
         [--novelty-floor 0.3]]

``--checkpoint``: a model of the config trained on the real data (a
``tools/train.py --baseline`` run's checkpoint). Classification: per
variant, whether the reference still gives its label (as a rate, and
relative to the rate on the sources), p(label | variant) / p(label |
source), novelty (feature distance to the source in units of the distance
between two real images of the class), sibling novelty (between two
variants of one source) and PSNR; aggregated overall, per class, and per
strength for a sweep (see mmtada/evaluation/variant_quality.py). With
``--judge``, each strength's variants go through ``LabelAgreement`` with
that checkpoint (as a run's filter: rejected ones remade, up to three
makes) and the *served* ones are scored, with the makes each served
variant cost (found in the cache or made now); ``--ladder`` adds an arm
that walks the ladder, with the strengths its variants were served at.
Detection
(a run): the box fidelity of tools/box_fidelity.py and the novelty of the
scene outside the boxes. Prints a table; writes JSON beside the run
(``RUN/tada/variant_quality.json``, shown by tools/report.py) or
``OUT/variant_quality.json`` and, for a sweep, ``OUT/variant_quality.png``
(label kept and novelty against strength).
"""
import argparse
import os.path as osp

from mmtada.utils.setup_env import setup_env  # first: before torchvision
import numpy as np
from mmengine.config import Config, DictAction

from mmtada.apis import build_sample_reader, open_run
from mmtada.evaluation.box_fidelity import (background_spread,
                                            measure_box_fidelity,
                                            outside_novelty)
from mmtada.evaluation.variant_quality import (measure_variant_quality,
                                               per_class, quality_table,
                                               summarize_quality)
from mmtada.filters import (LabelAgreement, VariantScorer,
                            model_from_checkpoint)
from mmtada.generators import make_variants
from mmtada.utils import atomic_write_json
from mmtada.utils.config_pipeline import config_test_pipeline
from mmtada.visualization import pick_per_class, save_png
from mmtada.visualization.plot import plot_rgb


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--work-dir', help='a TADA run: its served variants')
    src.add_argument('--weights', help='diffusion weights: a sweep')
    p.add_argument('--checkpoint', required=True,
                   help='reference model trained on the real data')
    p.add_argument('--max-sources', type=int, default=500,
                   help='run: at most this many sources (evenly spread)')
    p.add_argument('--out', help='sweep: output folder')
    p.add_argument('--strengths', default='0.2,0.35,0.5',
                   help="fixed strengths ('': none, a ladder alone)")
    p.add_argument('--sources', type=int, default=200,
                   help='sweep: sources, spread over the classes')
    p.add_argument('--variants', type=int, default=2)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--generator', default='PixelSDEdit')
    p.add_argument('--lora', help='sweep: LatentSDEdit\'s LoRA folder '
                   '(tools/finetune_diffusion.py\'s adapter/)')
    p.add_argument('--tokens', help='sweep: LatentSDEdit\'s class tokens '
                   '(the same adapter/)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--judge', help='sweep: filter the variants with '
                   'LabelAgreement scoring with this checkpoint')
    p.add_argument('--ladder', help='sweep: also a ladder arm, e.g. '
                   '0.5,0.35,0.2 (needs --judge)')
    p.add_argument('--min-ratio', type=float, default=0.5)
    p.add_argument('--novelty-floor', type=float)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--iou-thr', type=float, default=0.5)
    p.add_argument('--score-thr', type=float, default=0.3)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def detection(scorer, reader, cache, pairs, args):
    """Box fidelity, and how new the scene outside the boxes is."""
    rows, summary = measure_box_fidelity(reader, cache, pairs, scorer,
                                         args.iou_thr, args.score_thr)
    unit = background_spread([reader.source_image(s)
                              for s in sorted({s for s, _ in pairs})])
    for row in rows:
        s, v = row['source'], row['variant']
        row['novelty_outside'] = outside_novelty(
            reader.source_image(s), cache.read(s, v),
            reader.source_annotation(s)['bboxes'], unit)
    values = [r['novelty_outside'] for r in rows
              if np.isfinite(r['novelty_outside'])]
    summary['novelty_outside'] = float(np.mean(values)) if values \
        else float('nan')
    return rows, summary


def sweep_plot(summaries: dict) -> np.ndarray:
    """Label kept and novelty against the fixed strengths; a ladder arm as
    stars at the mean strength it served at."""
    fixed = [s for s in summaries if 'strengths' not in summaries[s]]
    ladders = [s for s in summaries if 'strengths' in summaries[s]]
    strengths = [float(s) for s in fixed]

    def mean_strength(counts):
        steps = {float(k): n for k, n in counts.items() if k != 'source'}
        return sum(k * n for k, n in steps.items()) / max(
            sum(steps.values()), 1)

    def draw(ax):
        ax.plot(strengths, [summaries[s]['label_kept_relative']
                            for s in fixed], 'o-', label='label kept '
                'relative to sources')
        ax.plot(strengths, [summaries[s]['novelty'] for s in fixed],
                's-', label='novelty')
        ax.plot(strengths, [summaries[s]['sibling_novelty']
                            for s in fixed], '^--',
                label='sibling novelty')
        for name in ladders:
            x = mean_strength(summaries[name]['strengths'])
            ax.plot([x, x], [summaries[name]['label_kept_relative'],
                             summaries[name]['novelty']], '*', ms=12,
                    label=f'{name} (label kept, novelty)')
        ax.set_xlabel('SDEdit strength (a ladder: the mean served)')
        top = max([1.0] + [v for s in summaries.values() for k, v in s.items()
                           if 'novelty' in k and np.isfinite(v)])
        ax.set_ylim(0, 1.05 * top)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return plot_rgb(draw)


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = model_from_checkpoint(cfg, args.checkpoint)
    scorer = VariantScorer(model, config_test_pipeline(cfg),
                           args.batch_size,
                           scope=cfg.get('default_scope', 'mmpretrain'))
    if args.work_dir:
        run = open_run(cfg, args.work_dir)
        reader, cache, layout = run.reader, run.cache, run.layout
        pairs = run.pairs
        sources = sorted({s for s, _ in pairs})
        if len(sources) > args.max_sources:
            keep = set(np.array(sources)[np.linspace(
                0, len(sources) - 1, args.max_sources).astype(int)].tolist())
            pairs = [p for p in pairs if p[0] in keep]
        if not pairs:
            raise SystemExit(f'the run in {args.work_dir} serves no variant.')
        if reader.is_detection:
            rows, summary = detection(scorer, reader, cache, pairs, args)
            print(f"{summary['variants']} variants of {summary['sources']} "
                  'images')
            for key in ('mad_inside', 'mad_outside', 'psnr_inside',
                        'psnr_outside', 'found_source', 'found_variant',
                        'novelty_outside'):
                print(f'{key:16} {summary[key]:.3f}')
            out = dict(task='detection', summary=summary, rows=rows)
        else:
            rows = measure_variant_quality(scorer, reader, cache, pairs)
            summary = summarize_quality(rows)
            classes = per_class(rows, reader.classes)
            print(quality_table(dict(all=summary, **classes), 'class'))
            out = dict(task='classification', summary=summary,
                       per_class=classes, rows=rows)
        out.update(checkpoint=args.checkpoint, cache=cache.dir)
        atomic_write_json(layout.variant_quality, out, indent=1)
        print(f'written {layout.variant_quality}')
        return
    if not args.out:
        raise SystemExit('a sweep (--weights) needs --out DIR.')
    reader = build_sample_reader(cfg)
    sources = pick_per_class(reader.gt_labels(),
                             max(1, args.sources // len(reader.classes)))
    arms = {s: dict(strength=float(s))
            for s in args.strengths.split(',') if s}
    if args.ladder:
        if not args.judge:
            raise SystemExit('a ladder is walked by a judge: give --judge '
                             'JUDGE.pth (not the reference checkpoint).')
        steps = [float(v) for v in args.ladder.split(',')]
        arms['ladder ' + '>'.join(args.ladder.split(','))] = dict(
            strength=steps[0], strengths=steps)
    summaries, all_rows = {}, {}
    for name, arm in arms.items():
        flt = None
        if args.judge:
            flt = LabelAgreement(
                min_ratio=args.min_ratio, checkpoint=args.judge,
                batch_size=args.batch_size, strengths=arm.get('strengths'),
                novelty_floor=args.novelty_floor if 'strengths' in arm
                else None).bind(cfg)
        adapted = {k: v for k, v in (('lora', args.lora),
                                     ('tokens', args.tokens)) if v}
        made = make_variants(
            dict(type=args.generator, weights=args.weights,
                 strength=arm['strength'], num_inference_steps=args.steps,
                 batch_size=args.batch_size, **adapted), reader, sources,
            args.variants, args.seed, osp.join(args.out, 'cache'),
            variant_filter=flt)
        pairs = sorted({p for p in made.pairs if p[1] is not None})
        rows = measure_variant_quality(scorer, reader, made.cache, pairs)
        summary = summarize_quality(rows)
        makes = made.counts['generated'] + made.counts['reused']
        summary.update(served=len(pairs) / len(made.pairs), makes=makes,
                       made_here=made.counts['generated'],
                       seconds=made.counts['seconds'],
                       makes_per_served=makes / max(len(pairs), 1))
        if 'strengths' in made.counts:
            summary['strengths'] = made.counts['strengths']
        summaries[name], all_rows[name] = summary, rows
    print(quality_table(summaries, 'strength'))
    if args.judge:
        for name, summary in summaries.items():
            print(f"{name}: {summary['served']:.3f} of the slots serve a "
                  f"variant, {summary['makes_per_served']:.2f} makes per "
                  f"served variant ({summary['makes']} makes, "
                  f"{summary['made_here']} of them now, "
                  f"{summary['seconds']:.0f} s)"
                  + (f"; served at {summary['strengths']}"
                     if 'strengths' in summary else ''))
    path = osp.join(args.out, 'variant_quality.json')
    atomic_write_json(path, dict(task='classification', weights=args.weights,
                                 checkpoint=args.checkpoint,
                                 judge=args.judge, min_ratio=args.min_ratio,
                                 steps=args.steps, summary=summaries,
                                 rows=all_rows), indent=1)
    save_png(osp.join(args.out, 'variant_quality.png'),
             sweep_plot(summaries))
    print(f'written {path} and its plot')


if __name__ == '__main__':
    main()
