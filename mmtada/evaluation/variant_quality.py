"""How good variants are, as a reference model trained on the real data
sees them: do they keep their label, how new are they.

- *label kept*: the reference's top-1 on the variant is its label; as a
  rate and relative to the same rate on the sources (a variant is not
  asked to be easier than its source);
- *confidence ratio*: p(label | variant) / p(label | source);
- *novelty*: 1 - cosine similarity of the reference's penultimate
  features, variant vs source, divided by the median of the same between
  two real images of the class (about 0: a copy; about 1: as different as
  another image of its class);
- *sibling novelty*: the same between two variants of one source (k
  variants that are nearly one image are one variant served k times);
- *PSNR* to the source (8-bit; of the pooled squared error over a set).
"""
from collections import defaultdict
from typing import Dict, List, Sequence

import numpy as np

from .box_fidelity import psnr


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1 - cos(a, b)."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return 1 - (a * b).sum(-1)


def class_spread(feats: np.ndarray, labels: np.ndarray,
                 max_pairs: int = 2000, seed: int = 0) -> Dict[int, float]:
    """Per class, the median cosine distance between two different real
    images of it (up to ``max_pairs`` random pairs): novelty's unit."""
    rng = np.random.RandomState(seed)
    out = {}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            continue
        i, j = rng.randint(len(idx), size=(2, max_pairs))
        keep = i != j
        out[int(c)] = float(np.median(cosine_distance(
            feats[idx[i[keep]]], feats[idx[j[keep]]])))
    return out


def variant_rows(sources: Sequence[int], labels: Dict[int, int],
                 src_probs: Dict[int, np.ndarray],
                 src_feats: Dict[int, np.ndarray],
                 variants: Sequence[tuple], var_probs: np.ndarray,
                 var_feats: np.ndarray, spread: Dict[int, float],
                 mse: Sequence[float]) -> List[dict]:
    """One row per variant ``(source, variant)`` (in ``variants`` order,
    with its probabilities, features and pixel MSE to its source)."""
    rows = []
    by_source = defaultdict(list)
    for k, (s, v) in enumerate(variants):
        y = labels[s]
        unit = spread.get(y, float('nan'))
        p_src = float(src_probs[s][y])
        rows.append(dict(
            source=int(s), variant=int(v), label=int(y),
            kept=bool(var_probs[k].argmax() == y),
            source_kept=bool(src_probs[s].argmax() == y),
            confidence_ratio=float(var_probs[k][y]) / max(p_src, 1e-12),
            novelty=float(cosine_distance(var_feats[k], src_feats[s])) / unit,
            mse=float(mse[k]), psnr=psnr(mse[k])))
        by_source[s].append(k)
    for s, ks in by_source.items():
        y = labels[s]
        d = [cosine_distance(var_feats[a], var_feats[b])
             for i, a in enumerate(ks) for b in ks[i + 1:]]
        sib = float(np.mean(d)) / spread.get(y, float('nan')) if d \
            else float('nan')
        for k in ks:
            rows[k]['sibling_novelty'] = sib
    return rows


def reals_per_class(labels: np.ndarray, sources: Sequence[int],
                    per_class: int = 50) -> List[int]:
    """The sources plus other real samples, up to ``per_class`` per class:
    the images novelty's unit is measured on."""
    chosen = set(int(s) for s in sources)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        have = [i for i in idx if i in chosen]
        extra = [int(i) for i in idx if i not in chosen]
        chosen |= set(extra[:max(0, per_class - len(have))])
    return sorted(chosen)


def measure_variant_quality(scorer, reader, cache,
                            pairs: Sequence[tuple]) -> List[dict]:
    """One row per variant of ``pairs`` (source, variant in ``cache``) of a
    classification ``reader``, as ``scorer`` (a
    :class:`~mmtada.filters.VariantScorer` of the reference) sees it: see
    :func:`variant_rows`; novelty's unit from :func:`reals_per_class`."""
    labels_all = reader.gt_labels()
    sources = sorted({s for s, _ in pairs})
    reals = reals_per_class(labels_all, sources)
    probs, feats = scorer.classify(reader, cache, [(s, None) for s in reals])
    spread = class_spread(feats, labels_all[reals])
    at = {s: k for k, s in enumerate(reals)}
    var_probs, var_feats = scorer.classify(reader, cache, pairs)
    mse = [float(((cache.read(s, v).astype(float) -
                   reader.source_image(s).astype(float))**2).mean())
           for s, v in pairs]
    return variant_rows(
        sources, {s: int(labels_all[s]) for s in sources},
        {s: probs[at[s]] for s in sources},
        {s: feats[at[s]] for s in sources}, pairs, var_probs, var_feats,
        spread, mse)


def _mean(values) -> float:
    values = [v for v in values if v == v and np.isfinite(v)]
    return float(np.mean(values)) if values else float('nan')


def summarize_quality(rows: List[dict]) -> dict:
    """The measures over ``rows``: rates, their ratio, mean confidence
    ratio (median too: it is heavy-tailed), novelties, PSNR."""
    if not rows:
        return dict(variants=0)
    kept = _mean([r['kept'] for r in rows])
    src = _mean([r['source_kept'] for r in {
        r['source']: r for r in rows}.values()])
    return dict(
        variants=len(rows), sources=len({r['source'] for r in rows}),
        label_kept=kept, source_label_kept=src,
        label_kept_relative=kept / src if src else float('nan'),
        confidence_ratio=_mean([r['confidence_ratio'] for r in rows]),
        confidence_ratio_median=float(np.median(
            [r['confidence_ratio'] for r in rows])),
        novelty=_mean([r['novelty'] for r in rows]),
        sibling_novelty=_mean([r.get('sibling_novelty', float('nan'))
                               for r in rows]),
        psnr=psnr(_mean([r['mse'] for r in rows])))


def per_class(rows: List[dict], classes: Sequence[str]) -> Dict[str, dict]:
    """:func:`summarize_quality` of each class's rows."""
    out = {}
    for c, name in enumerate(classes):
        part = [r for r in rows if r['label'] == c]
        if part:
            out[str(name)] = summarize_quality(part)
    return out


COLUMNS = (('variants', '{:.0f}'), ('label_kept', '{:.3f}'),
           ('source_label_kept', '{:.3f}'), ('label_kept_relative', '{:.3f}'),
           ('confidence_ratio_median', '{:.3f}'), ('novelty', '{:.3f}'),
           ('sibling_novelty', '{:.3f}'), ('psnr', '{:.1f}'))


def quality_table(summaries: Dict[str, dict], first: str = 'set') -> str:
    """A Markdown table, one row per named summary."""
    head = [first, 'variants', 'label kept', 'sources kept', 'relative',
            'conf. ratio (median)', 'novelty', 'sibling novelty',
            'PSNR dB']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + ' --- |' * len(head)]
    for name, s in summaries.items():
        cells = [str(name)] + [
            fmt.format(s[key]) if key in s else '-' for key, fmt in COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'
