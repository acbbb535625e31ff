"""A self-contained HTML page about one TADA run."""
import base64
import glob
import html
import json
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from mmtada.utils import RunLayout, atomic_write_bytes
from mmtada.utils.run_scalars import read_scalars
from .plot import plot_rgb
from .score_histogram import score_histogram


def _png_uri(rgb: np.ndarray) -> str:
    import cv2
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError('cannot encode a report image')
    return 'data:image/png;base64,' + base64.b64encode(buf).decode()


def _file_uri(path: str) -> str:
    with open(path, 'rb') as f:
        return 'data:image/png;base64,' + base64.b64encode(
            f.read()).decode()


def _class_fractions(sel: dict) -> np.ndarray:
    names = list(sel['per_class_counts'])
    frac = [sel['per_class_counts'][n] / max(sel['per_class_totals'][n], 1)
            for n in names]

    def draw(ax):
        ax.bar(range(len(names)), frac, color='#d9480f')
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha='right', fontsize=7)
        ax.set_ylabel('selected fraction')
        ax.set_ylim(0, 1)
    return plot_rgb(draw)


def _strength_histogram(per_class: Dict[str, Dict[str, int]]
                        ) -> np.ndarray:
    """Served slots per class (rows of ``{strength: n}``, ``'source'``:
    the filter dropped every variant), stacked by the ladder step their
    variant was made at."""
    names = list(per_class)
    keys = list(dict.fromkeys(k for row in per_class.values() for k in row))
    colors = ['#d9480f', '#f08c00', '#fab005', '#82c91e', '#1c7ed6',
              '#7048e8']

    def draw(ax):
        bottom = np.zeros(len(names))
        for i, key in enumerate(keys):
            n = np.array([per_class[c].get(key, 0) for c in names], float)
            label = 'source (all dropped)' if key == 'source' \
                else f'strength {key}'
            ax.bar(range(len(names)), n, bottom=bottom, label=label,
                   color='#adb5bd' if key == 'source'
                   else colors[i % len(colors)])
            bottom += n
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha='right', fontsize=7)
        ax.set_ylabel('served slots')
        ax.legend(fontsize=7)
    return plot_rgb(draw)


def _curves(records: List[dict]) -> Optional[np.ndarray]:
    train = [(r['step'], r['loss']) for r in records
             if 'loss' in r and 'step' in r]
    val = {k: [(r['step'], r[k]) for r in records if k in r]
           for k in {k for r in records for k in r if '/' in k
                     and isinstance(r[k], (int, float))}}
    if not train and not val:
        return None

    def draw(loss_ax, val_ax):
        if train:
            loss_ax.plot(*zip(*train), color='#1c7ed6', lw=1)
        loss_ax.set_xlabel('iteration')
        loss_ax.set_ylabel('training loss')
        for k, pts in sorted(val.items())[:4]:
            val_ax.plot(*zip(*pts), marker='o', lw=1, label=k)
        val_ax.set_xlabel('epoch')
        val_ax.set_ylabel('validation')
        if val:
            val_ax.legend(fontsize=7)
    return plot_rgb(draw, ncols=2)


def _trajectories(path: str, sel: dict) -> np.ndarray:
    """Mean loss per epoch of the selected samples (instances) and of the
    rest until the selection, with their quartiles; beside it the
    training-error curve, the selection epoch marked (and, with
    ``select_epoch='auto'``, its range)."""
    traj = np.load(path)
    epochs, loss, chosen = traj['epochs'], traj['loss'], traj['selected']

    def draw(loss_ax, error_ax):
        for mask, name, color in ((chosen, 'selected', '#d9480f'),
                                  (~chosen, 'the rest', '#1c7ed6')):
            if not mask.any():
                continue
            part = loss[:, mask]
            q1, med, q3 = np.nanpercentile(part, [25, 50, 75], axis=1)
            loss_ax.plot(epochs, np.nanmean(part, 1), 'o-', color=color,
                         label=f'{name} ({int(mask.sum())}), mean')
            loss_ax.fill_between(epochs, q1, q3, color=color, alpha=0.15)
        loss_ax.set_xlabel('epoch')
        loss_ax.set_ylabel('loss')
        loss_ax.legend(fontsize=7)
        error_ax.plot(epochs, traj['error'], 'o-', color='#495057')
        error_ax.axvline(sel['epoch'], color='#d9480f', ls='--',
                         label=f"selected after epoch {sel['epoch']}")
        if sel.get('auto'):
            lo, hi = sel['auto']['range']
            error_ax.axvspan(lo - 0.5, hi + 0.5, color='#fab005', alpha=0.15,
                             label=f'auto range ({sel["auto"]["reason"]})')
        error_ax.set_xlabel('epoch')
        error_ax.set_ylabel('training error')
        error_ax.legend(fontsize=7)
    return plot_rgb(draw, ncols=2)


def _quality_section(path: str) -> List[str]:
    """The variant-quality table of ``tools/variant_quality.py``'s JSON
    (overall and per class), if the run has one."""
    if not osp.exists(path):
        return []
    with open(path) as f:
        quality = json.load(f)
    if quality.get('task') != 'classification':
        keys = [k for k in quality['summary'] if k != 'sources']
        rows = [('all', quality['summary'])]
    else:
        keys = ['variants', 'label_kept', 'source_label_kept',
                'label_kept_relative', 'confidence_ratio_median', 'novelty',
                'sibling_novelty', 'psnr']
        rows = [('all', quality['summary'])] + list(
            quality.get('per_class', {}).items())
    out = ['<h2>Variant quality</h2><p>As the reference model '
           f"{html.escape(osp.basename(str(quality.get('checkpoint'))))} "
           'sees them (tools/variant_quality.py).</p><table><tr><th>set'
           '</th>' + ''.join(f'<th>{html.escape(k)}</th>' for k in keys) +
           '</tr>']
    for name, summary in rows:
        cells = ''.join(
            f'<td>{summary[k]:.3f}</td>' if isinstance(summary.get(k), float)
            else f"<td>{html.escape(str(summary.get(k, '')))}</td>"
            for k in keys)
        out.append(f'<tr><th>{html.escape(str(name))}</th>{cells}</tr>')
    return out + ['</table>']


def write_report(work_dir: str, out: Optional[str] = None) -> str:
    """Write ``<work_dir>/tada/report.html`` (or ``out``) from the run's
    files (:class:`~mmtada.utils.RunLayout`): the selection, the
    generation record, the visualizer's ``tada_hard_examples`` image and
    ``scalars.json``. Every image is embedded, so the page is one file.
    Returns its path."""
    layout = RunLayout(work_dir)
    sel_path = layout.selection
    if not osp.exists(sel_path):
        raise FileNotFoundError(
            f'no {sel_path}: the run has not selected yet (report after '
            'select_epoch).')
    with open(sel_path) as f:
        sel = json.load(f)
    gen_path = layout.generation
    gen = json.load(open(gen_path)) if osp.exists(gen_path) else None
    chosen = np.zeros(sel['num_samples'], bool)
    chosen[sel['indices']] = True
    scores = np.array([np.nan if s is None else s for s in sel['scores']])
    figures = [
        ('Selected fraction per class', _png_uri(_class_fractions(sel))),
        ('Scores at selection', _png_uri(score_histogram(
            scores, chosen, f"{sel['rule']}, epoch {sel['epoch']}")))]
    grids = sorted(glob.glob(osp.join(
        work_dir, '*', 'vis_data', 'vis_image', 'tada_hard_examples_*.png')),
        key=osp.getmtime)
    if grids:
        figures.append(('Hardest selected samples and their variants',
                        _file_uri(grids[-1])))
    if osp.exists(layout.trajectories):
        figures.append(('Until the selection: the selected against the '
                        'rest', _png_uri(_trajectories(
                            layout.trajectories, sel))))
    served = json.load(open(layout.served)) \
        if osp.exists(layout.served) else {}
    if served.get('strengths_per_class') or (gen or {}).get('strengths'):
        figures.append(('Strengths the variants were served at, per '
                        'class', _png_uri(_strength_histogram(
                            served.get('strengths_per_class') or
                            dict(all=gen['strengths'])))))
    curves = _curves(read_scalars(work_dir))
    if curves is not None:
        figures.append(('Training', _png_uri(curves)))
    what = 'images' if sel.get('instances') else 'samples'
    n_sel, n_all = len(sel['indices']), sel['num_samples']
    rows = [('rule', sel['rule']), ('selection epoch', sel['epoch']),
            (f'selected {what}',
             f'{n_sel} / {n_all} ({100 * n_sel / max(n_all, 1):.1f}%)')]
    if sel.get('instances'):
        inst = sel['instances']
        rows.append(('selected instances',
                     f"{sum(inst['selected'])} / {len(inst['selected'])}"))
    cost = []
    if gen:
        k, n = gen['num_variants'], sel['num_samples']
        rate = gen['seconds'] / gen['generated'] if gen['generated'] \
            else float('nan')
        cost = [('TADA', gen['selected'], k, gen['total'],
                 f"{gen['seconds']:.1f}"),
                (f'whole dataset x{k}', n, k, n * k,
                 f'{n * k * rate:.1f} (est.)' if rate == rate else '–')]
    name = html.escape(osp.abspath(work_dir))
    page = ['<!doctype html><html><head><meta charset="utf-8">',
            f'<title>TADA report: {name}</title>',
            '<style>body{font-family:sans-serif;max-width:960px;margin:2em '
            'auto}table{border-collapse:collapse}td,th{border:1px solid '
            '#ccc;padding:4px 8px}img{max-width:100%}</style></head><body>',
            f'<h1>TADA run {name}</h1>',
            '<table>']
    page += [f'<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}'
             '</td></tr>' for a, b in rows]
    page.append('</table>')
    if cost:
        page.append('<h2>Generation cost</h2><table><tr><th>augmenting</th>'
                    '<th>sources</th><th>k</th><th>images</th>'
                    '<th>seconds</th></tr>')
        page += ['<tr>' + ''.join(f'<td>{html.escape(str(c))}</td>'
                                  for c in row) + '</tr>' for row in cost]
        page.append('</table>')
        if 'kept' in gen:
            page.append(
                f"<p>Variant filter: {gen['kept']} kept, {gen['remade']} "
                f"remade, {gen['dropped']} dropped "
                f"({gen.get('filter_seconds', 0):.1f} s of the cost)" +
                (', served at strength ' + html.escape(', '.join(
                    f'{k}: {n}' for k, n in gen['strengths'].items()))
                 if gen.get('strengths') else '') + '.</p>')
    page += _quality_section(layout.variant_quality)
    for title, uri in figures:
        page.append(f'<h2>{html.escape(title)}</h2><img alt="'
                    f'{html.escape(title)}" src="{uri}">')
    # Marks <body data-images="decoded/total"> once every image decoded
    # (or failed): what the headless-browser test reads.
    page.append(
        '<script>var im=Array.prototype.slice.call(document.images);'
        'Promise.all(im.map(function(i){return i.decode().then('
        'function(){return 1;},function(){return 0;});})).then('
        'function(r){document.body.setAttribute("data-images",r.reduce('
        'function(a,b){return a+b;},0)+"/"+im.length);});</script>'
        '</body></html>')
    out = out or layout.report
    atomic_write_bytes(out, '\n'.join(page).encode())
    return out
