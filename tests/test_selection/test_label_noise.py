"""The label-noise guards of mmtada/selection/label_noise.py on statistics
built by hand, where which samples are flagged is known."""
import math

import pytest
import torch

from mmtada.selection import LagStats
from mmtada.selection.label_noise import aum_threshold, flag_aum, guard

NAN = float('nan')


def flagged(mask):
    return torch.nonzero(mask).squeeze(1).tolist()


def two_epochs():
    """LagStats of 5 samples (labels 0 1 2 0 1) over two epochs, the
    logits chosen for their margins (assigned logit minus the largest
    other): sample 0: +3, +3; 1: -3, +1 (AUM -1, last margin +1); 2: +1,
    +1; 3: -5 in the first epoch, not seen in the second; 4: never seen."""
    labels = torch.tensor([0, 1, 2, 0, 1])
    stats = LagStats(num_samples=5, num_classes=3)
    first = torch.tensor([[3., 0, 0], [0, -3, 0], [0, 0, 1], [-5, 0, 0]])
    stats.update(torch.arange(4), first.log_softmax(1), labels[:4])
    stats.end_epoch(1)
    second = torch.tensor([[3., 0, 0], [0, 1, 0], [0, 0, 1]])
    stats.update(torch.arange(3), second.log_softmax(1), labels[:3])
    stats.end_epoch(2)
    return stats.latest(labels)


def test_aum_is_the_margin_averaged_over_epochs_below_a_fixed_threshold():
    stats = two_epochs()
    aum = stats['aum'].tolist()
    assert aum[:4] == pytest.approx([3, -1, 1, -5]) and math.isnan(aum[4])
    assert stats['seen'].tolist() == [True, True, True, False, False]
    # sample 1's last margin is +1: only the area flags it
    assert flagged(guard(stats, 'aum', threshold=0.0)) == [1]
    # flag_aum flags sample 3 too (its one margin); the guard flags only
    # samples seen in the last epoch, and never the unseen sample 4 (NaN)
    assert flagged(flag_aum(stats, 0.0)) == [1, 3]
    assert flagged(guard(stats, 'aum', threshold=-2.0)) == []
    assert flagged(guard(stats, 'aum', threshold=2.0)) == [1, 2]
    # a threshold given as a string of a number is that number
    assert flagged(guard(stats, 'aum', threshold='0.5')) == [1]


def hand_stats(aum, aum_fake, seen, labels=None, loss=None):
    n = len(aum)
    return dict(aum=torch.tensor(aum), aum_fake=torch.tensor(aum_fake),
                seen=torch.tensor(seen),
                labels=torch.tensor(labels or [0] * n),
                loss=torch.tensor(loss or [0.0] * n))


def test_auto_aum_threshold_is_a_quantile_of_the_seen_fake_margins():
    stats = hand_stats(
        aum=[-3.0, -0.5, -1.5, 1.0, -10.0, -2.2],
        # the wrong-label reference; sample 4 unseen, sample 5's inf
        # (a diverged output) left out of the quantile
        aum_fake=[-4.0, -2.0, 0.0, 2.0, -100.0, math.inf],
        seen=[True, True, True, True, False, True])
    # median of [-4, -2, 0, 2] (linear interpolation)
    assert aum_threshold(stats) == pytest.approx(-1.0)
    assert aum_threshold(stats, 'auto', 0.25) == pytest.approx(-2.5)
    assert aum_threshold(stats, 'auto', 1.0) == pytest.approx(2.0)
    assert flagged(guard(stats, 'aum')) == [0, 2, 5]
    assert flagged(guard(stats, 'aum', quantile=0.25)) == [0]
    assert flagged(guard(stats, 'aum', 'auto', 0.0)) == []  # below -4
    # a fixed threshold ignores the fake margins and the quantile
    assert flagged(guard(stats, 'aum', -2.0, 0.25)) == [0, 5]


def test_auto_aum_threshold_with_no_fake_margin_flags_nothing():
    stats = hand_stats(aum=[-5.0, -1.0], aum_fake=[NAN, -3.0],
                       seen=[True, False])
    assert aum_threshold(stats) == -math.inf
    assert flagged(guard(stats, 'aum')) == []


def test_aum_guard_on_lag_stats_flags_a_planted_label_flip():
    """Four classes of 6 samples; the model learns the classes, sample 7
    slowly (hard, correctly labelled), and sample 4, labelled 0, is
    really a 2 (its logits rank 2 first): its AUM, and it alone, falls
    below the median AUM of the fake labels."""
    torch.manual_seed(0)
    n, c = 24, 4
    labels = torch.arange(n) % c
    stats = LagStats(n, c)
    for epoch in range(1, 4):
        logits = torch.randn(n, c) * 0.3
        logits[torch.arange(n), labels] += epoch  # learned over epochs
        logits[7, labels[7]] -= 0.7 * epoch
        logits[4, 2] += 3 * epoch
        stats.update(torch.arange(n), logits.log_softmax(1), labels)
        stats.end_epoch(epoch)
    latest = stats.latest(labels)
    assert flagged(guard(latest, 'aum', quantile=0.5)) == [4]
    assert flagged(guard(latest, None)) == []


def test_exclude_top_flags_the_hardest_fraction_of_each_class():
    # class 0: losses 1 4 2 3; class 1: one unseen (NaN), then 5 0 1 2;
    # class 2: four ties at 2
    stats = hand_stats(
        aum=[0.0] * 13, aum_fake=[0.0] * 13,
        seen=[True] * 4 + [False] + [True] * 8,
        labels=[0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2],
        loss=[1.0, 4, 2, 3, NAN, 5, 0, 1, 2, 2, 2, 2, 2])
    # per class, not over all (the global top 3 would be 5, 1 and 3);
    # ties: the lowest index first
    assert flagged(guard(stats, None, exclude_top=0.25)) == [1, 5, 9]
    assert flagged(guard(stats, None, exclude_top=0.5)) == [1, 3, 5, 8,
                                                            9, 10]
    assert flagged(guard(stats, None, exclude_top=0.1)) == []  # round(0.4)
    # with the AUM guard: the union of both
    stats['aum'][[2, 6]] = -1.0
    assert flagged(guard(stats, 'aum', 0.0, exclude_top=0.25)) == [
        1, 2, 5, 6, 9]


def mismatched_stats():
    """Detection instances (labels 0 0 1 0 0 0 2), their own-class score
    at two probes and the per-class scores at the last one:

    0: never found as a 0 while instance 1 (a 0) is learned; found as a
       1 at 0.6 -> flagged
    1: learned -> not flagged
    2: its class (1) has no learned instance -> not flagged
    3: own score 1e-6 (counts as 0), found as a 1 at 0.2 only
    4: found as a 0 at the first probe -> not flagged
    5: found as nothing -> not flagged
    6: never seen (NaN) -> not flagged
    """
    own = torch.tensor([[0.0, 0.2, 0.0, 1e-6, 0.5, 0.0, NAN],
                        [0.0, 0.8, 0.0, 0.0, 0.0, 0.0, NAN]])
    probs = torch.tensor([[0.0, 0.6, 0.0], [0.8, 0.0, 0.0], [0.9, 0.0, 0.0],
                          [0.0, 0.2, 0.1], [0.0, 0.7, 0.0], [0.0, 0.0, 0.0],
                          [NAN, NAN, NAN]])
    stats = dict(labels=torch.tensor([0, 0, 1, 0, 0, 0, 2]), probs=probs,
                 correct=torch.tensor([0.0, 1, 0, 0, 0, 0, NAN]),
                 loss=-own[-1].log(),
                 seen=torch.tensor([True] * 6 + [False]))
    return stats, own


def test_mismatched_flags_instances_only_ever_found_as_another_class():
    stats, own = mismatched_stats()
    assert flagged(guard(stats, 'mismatched', own_history=own)) == [0]
    # found as another class at 0.2: flagged from that score threshold
    assert flagged(guard(stats, 'mismatched', own_history=own,
                         score_thr=0.15)) == [0, 3]
    assert flagged(guard(stats, 'mismatched', own_history=own,
                         score_thr=0.7)) == []
    # a history where instance 4 was never matched either
    own[0, 4] = 0.0
    assert flagged(guard(stats, 'mismatched', own_history=own)) == [0, 4]
    # once nothing of class 0 is learned, no instance of it is flagged
    stats['correct'][1] = 0.0
    assert flagged(guard(stats, 'mismatched', own_history=own)) == []


def test_mismatched_with_exclude_top_is_the_union():
    stats, own = mismatched_stats()
    stats['loss'] = torch.tensor([0.1, 0.2, 0.3, 0.4, 9.0, 0.5, NAN])
    # class 0 (instances 0 1 3 4 5): the top 20% by loss is instance 4
    assert flagged(guard(stats, 'mismatched', own_history=own,
                         exclude_top=0.2)) == [0, 4]


@pytest.mark.parametrize('q', [0, 1, -0.2, 1.5])
def test_exclude_top_outside_zero_one_is_refused(q):
    stats = hand_stats(aum=[0.0], aum_fake=[0.0], seen=[True])
    with pytest.raises(ValueError, match=r'exclude_top must be in \(0, 1\)'):
        guard(stats, None, exclude_top=q)


def test_an_unknown_guard_is_refused_naming_the_known_ones():
    stats = hand_stats(aum=[0.0], aum_fake=[0.0], seen=[True])
    with pytest.raises(ValueError, match="one of .*'aum', 'mismatched'"):
        guard(stats, 'noisy')
