"""The automatic separating epoch on crafted training-error curves."""
import pytest

from mmtada.selection.auto_epoch import (SelectEpoch, decide, drops,
                                         epoch_range)


def first_decision(curve, lo=2, hi=6, start=0.9, ready=None):
    for t in range(1, len(curve) + 1):
        reason = decide(curve[:t], start, lo, hi,
                        ready=True if ready is None else ready(t))
        if reason:
            return t, reason
    return None, None


def test_range_is_fractions_of_the_schedule():
    assert epoch_range(200) == (6, 20)
    assert epoch_range(10) == (1, 1)
    assert epoch_range(40, (0.05, 0.2)) == (2, 8)
    with pytest.raises(ValueError, match='auto_range'):
        epoch_range(40, (0.2, 0.1))


def test_steep_then_flat_selects_where_the_drop_slows():
    curve = [0.7, 0.5, 0.42, 0.40, 0.39, 0.38, 0.37]
    assert drops(curve, 0.9)[:3] == pytest.approx([0.2, 0.2, 0.08])
    assert first_decision(curve) == (3, 'knee')  # 0.08 < 0.5 x 0.2


def test_noisy_curves_count_from_lo_and_never_before():
    # a steep first epoch, a noisy pause, more fall, then flat
    curve = [0.5, 0.49, 0.3, 0.2, 0.19, 0.185]
    assert first_decision(curve, lo=1) == (2, 'knee')  # the pause: too soon
    assert first_decision(curve, lo=3) == (3, 'knee')  # 0.19 < 0.5 x 0.4
    # equal small steps never slow down: no knee; the cap ends it
    steady = [0.88, 0.87, 0.86]
    assert first_decision(steady, lo=1, hi=6) == (None, None)
    assert first_decision(steady, lo=1, hi=3) == (3, 'cap')


def test_a_curve_that_never_flattens_stops_at_the_cap():
    curve = [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    assert first_decision(curve) == (6, 'cap')


def test_a_detector_that_finds_nothing_yet_is_not_ready():
    curve = [1.0, 1.0, 0.95, 0.6, 0.55, 0.54]  # 1 - learned fraction
    ready = lambda t: 1 - curve[t - 1] >= 0.1  # noqa: E731
    assert first_decision(curve, start=1.0, ready=ready) == (5, 'knee')


def test_select_epoch_resolves_fixed_fractional_default_and_auto():
    assert SelectEpoch(4).resolve(20) == 4
    assert SelectEpoch(0.25).resolve(10) == 3  # ceil(2.5)
    assert SelectEpoch().resolve(200) == 10  # 5% of the schedule
    assert SelectEpoch().resolve(3) == 1  # at least 1
    auto = SelectEpoch('auto')
    assert auto.resolve(200) == 20 and auto.range == (6, 20)
    with pytest.raises(ValueError, match=r'select_epoch=30 is outside'):
        SelectEpoch(30).resolve(20)


def test_select_epoch_is_due_and_recorded_as_it_decided():
    fixed = SelectEpoch(3)
    fixed.resolve(20)
    assert [fixed.due(t, [0.5] * t, 0.9) for t in (1, 2, 3)] == [
        None, None, 'epoch']
    assert fixed.deciding(3) and not fixed.deciding(2)
    assert fixed.record('epoch', [0.5], 0.9) == {}
    assert fixed.signature() == dict(select_epoch=3, auto=None)
    auto = SelectEpoch('auto', (0.1, 0.3))
    auto.resolve(20)  # epochs 2..6
    curve = [0.7, 0.5, 0.42]
    assert not auto.deciding(1) and auto.deciding(2) and auto.deciding(9)
    assert auto.due(2, curve[:2], 0.9) is None
    assert auto.due(3, curve, 0.9) == 'knee'
    assert auto.record('knee', curve, 0.9) == dict(
        reason='knee', range=[2, 6], knee=0.5, curve=curve, start=0.9)
    assert auto.signature() == dict(select_epoch='auto', auto=dict(
        range=[0.1, 0.3], knee=0.5))
