import numpy as np
import pytest
import torch

from mmtada.registry import SELECTION_RULES
from mmtada.selection import (KMeansRule, LossQuantileRule,
                              MisclassifiedRule, select_samples)


def planted(n_per_class=50, classes=3, slow=10, seed=0):
    """Outputs where `slow` samples per class are confidently wrong-ish
    (high loss, outputs far from their class's fast cluster)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    probs = torch.full((len(labels), classes), 0.02)
    slow_mask = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(classes):
        idx = torch.nonzero(labels == c).squeeze(1)
        slow_idx = idx[torch.randperm(len(idx), generator=g)[:slow]]
        slow_mask[slow_idx] = True
    for i, c in enumerate(labels.tolist()):
        if slow_mask[i]:
            probs[i, (c + 1) % classes] = \
                0.6 + 0.1 * torch.rand(1, generator=g)
        else:
            probs[i, c] = 0.8 + 0.15 * torch.rand(1, generator=g)
    probs = probs / probs.sum(1, keepdim=True)
    loss = -probs[torch.arange(len(labels)), labels].log()
    stats = dict(loss=loss, probs=probs, labels=labels,
                 correct=(probs.argmax(1) == labels).float(),
                 confidence=probs[torch.arange(len(labels)), labels],
                 seen=torch.ones(len(labels), dtype=torch.bool))
    return stats, slow_mask


def test_kmeans_finds_planted_slow_samples():
    stats, slow = planted()
    mask = KMeansRule().select(stats)
    assert torch.equal(mask, slow)


def test_kmeans_is_deterministic_and_ignores_unseen():
    stats, slow = planted(seed=3)
    stats['seen'][0] = False
    stats['loss'][0] = float('nan')
    a = KMeansRule().select(stats) & stats['seen']
    b = KMeansRule().select(stats) & stats['seen']
    assert torch.equal(a, b)
    assert not a[0]


def median_seeded_lloyd(x, key):
    """The hand-written 2-means this rule replaced: centres from the
    samples below / above the key's median, then Lloyd."""
    high = key >= np.median(key)
    for _ in range(100):
        centres = np.stack([x[~high].mean(0), x[high].mean(0)])
        new = ((x - centres[1])**2).sum(1) < ((x - centres[0])**2).sum(1)
        if (new == high).all():
            break
        high = new
    return high


def inertia(x, mask):
    return sum(((x[m] - x[m].mean(0))**2).sum() for m in (mask, ~mask))


def test_sklearn_kmeans_finds_the_tighter_split_the_old_rule_missed():
    rng = np.random.RandomState(0)
    probs = rng.rand(12, 3)
    probs /= probs.sum(1, keepdims=True)
    loss = -np.log(probs[:, 0])
    stats = dict(loss=torch.from_numpy(loss), probs=torch.from_numpy(probs),
                 labels=torch.zeros(12, dtype=torch.long),
                 correct=torch.zeros(12), seen=torch.ones(12, dtype=bool))
    new = KMeansRule().select(stats).numpy()
    old = median_seeded_lloyd(probs, loss)
    assert not ((new == old).all() or (new == ~old).all())  # they differ
    assert inertia(probs, new) < inertia(probs, old) - 0.1
    assert loss[new].mean() > loss[~new].mean()  # the slow cluster
    logits = KMeansRule(features='logits').select(stats)
    assert logits.any() and not logits.all()
    with pytest.raises(ValueError, match='features must be one of'):
        KMeansRule(features='feats')


def test_kmeans_on_a_uniform_class_selects_it_where_it_is_wrong():
    stats, _ = planted(slow=0)
    stats['probs'][:] = 1 / 3
    stats['loss'][:] = torch.log(torch.tensor(3.0))
    assert KMeansRule().select(stats).sum() == 0
    stats['correct'][stats['labels'] == 1] = 0  # class 1 all wrong
    assert torch.equal(KMeansRule().select(stats), stats['labels'] == 1)


def test_misclassified_rule():
    stats, slow = planted()
    assert torch.equal(MisclassifiedRule().select(stats), slow)


def test_loss_quantile_per_class_and_ties_by_index():
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    loss = torch.tensor([1.0, 1.0, 1.0, 0.0, 2.0, 0.5])
    stats = dict(loss=loss, labels=labels,
                 seen=torch.ones(6, dtype=torch.bool))
    mask = LossQuantileRule(fraction=0.5).select(stats)
    assert mask.tolist() == [True, True, False, False, True, False]
    mask = LossQuantileRule(fraction=0.5, per_class=False).select(stats)
    assert mask.tolist() == [True, True, False, False, True, False]


def test_rules_build_from_registry_and_record_selection():
    stats, slow = planted()
    rule = SELECTION_RULES.build(dict(type='mmtada.kmeans'))
    sel = select_samples(rule, 'kmeans', stats, ['a', 'b', 'c'], epoch=3)
    assert sel.indices == torch.nonzero(slow).squeeze(1).tolist()
    assert sel.per_class_counts == {'a': 10, 'b': 10, 'c': 10}
    assert sel.per_class_totals == {'a': 50, 'b': 50, 'c': 50}
    assert abs(sel.fraction - 0.2) < 1e-9
    assert len(sel.scores) == 150
    assert 'kmeans, epoch 3' in sel.summary()


def test_random_and_all_rules():
    stats, _ = planted()
    stats['seen'][:5] = False
    a = SELECTION_RULES.build(dict(type='random', num=40, seed=1))
    mask = a.select(stats)
    assert mask.sum() == 40 and not mask[:5].any()
    assert torch.equal(mask, a.select(stats))  # seeded
    other = SELECTION_RULES.build(dict(type='random', num=40, seed=2))
    assert not torch.equal(mask, other.select(stats))
    half = SELECTION_RULES.build(dict(type='random', fraction=0.5))
    assert half.select(stats).sum() == round(0.5 * 145)
    assert torch.equal(SELECTION_RULES.build(dict(type='all')).select(stats),
                       stats['seen'])
    with pytest.raises(ValueError, match='exactly one of num and fraction'):
        SELECTION_RULES.build(dict(type='random'))
