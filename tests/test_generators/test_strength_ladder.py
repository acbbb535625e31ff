"""The strength ladder: its checks, its cache ids and the walk."""
import pytest

from mmtada.generators import StrengthLadder, try_id, walk_step

NAN = float('nan')


def test_strengths_must_fall_and_lie_in_zero_one():
    for bad in ([], [0.2, 0.5], [0.5, 0.5], [1.2, 0.3], [0.5, -0.1]):
        with pytest.raises(ValueError, match='strictly decreasing'):
            StrengthLadder(bad)
    with pytest.raises(ValueError, match='novelty_floor must be >= 0'):
        StrengthLadder([0.5], novelty_floor=-1)
    ladder = StrengthLadder(['0.5', 0.35, 0.2], novelty_floor=0.3)
    assert ladder.strengths == (0.5, 0.35, 0.2) and len(ladder) == 3
    assert ladder.settings() == dict(strengths=[0.5, 0.35, 0.2],
                                     novelty_floor=0.3)
    assert ladder.default_tries() == 4
    assert StrengthLadder([0.5, 0.2]).default_tries() == 2


def test_ids_say_their_strength_and_never_collide():
    ladder, k = StrengthLadder([0.5, 0.35, 0.2]), 2
    ids = {(v, t, lv): try_id(ladder, v, k, lv, t)
           for v in range(k) for t in range(4) for lv in range(3)}
    assert len(set(ids.values())) == len(ids)
    for (v, t, lv), i in ids.items():
        assert ladder.strength_of(i) == ladder.strengths[lv]
        assert ladder.level_of(i) == lv
    # one strength: the ids of a filter without a ladder
    one = StrengthLadder([0.3])
    assert [try_id(one, 1, 2, 0, t) for t in range(3)] == [1, 3, 5]
    assert [try_id(None, 1, 2, 0, t) for t in range(3)] == [1, 3, 5]


def walk(ladder, verdicts, tries):
    """Levels tried and what is served, for (kept, novelty) verdicts in
    turn."""
    level, reserve, tried = 0, None, []
    for t, (kept, novelty) in enumerate(verdicts[:tries]):
        tried.append(level)
        done, served, level, reserve = walk_step(
            ladder, level, kept, novelty, reserve, 100 + t, t == tries - 1)
        if done:
            return tried, served
    raise AssertionError('the walk did not end within its tries')


def test_rejections_walk_down_and_the_lowest_drops():
    ladder = StrengthLadder([0.5, 0.35, 0.2])
    assert walk(ladder, [(True, NAN)], 3) == ([0], 100)
    assert walk(ladder, [(False, NAN), (True, NAN)], 3) == ([0, 1], 101)
    assert walk(ladder, [(False, NAN)] * 3, 3) == ([0, 1, 2], None)
    # more tries than steps: the lowest is retried with new seeds
    assert walk(ladder, [(False, NAN)] * 4 + [(True, NAN)], 5) == \
        ([0, 1, 2, 2, 2], 104)


def test_without_a_ladder_a_rejection_retries_until_the_tries_run_out():
    assert walk(None, [(False, NAN), (True, NAN)], 3) == ([0, 0], 101)
    assert walk(None, [(False, NAN)] * 3, 3) == ([0, 0, 0], None)


def test_a_near_copy_is_remade_higher_and_kept_in_reserve():
    ladder = StrengthLadder([0.5, 0.35, 0.2], novelty_floor=0.3)
    # far enough: kept at once, novelty is not asked twice
    assert walk(ladder, [(True, 0.8)], 4) == ([0], 100)
    # rejected at 0.5, near-copy at 0.35, 0.5 again rejected: the reserve
    assert walk(ladder, [(False, NAN), (True, 0.1), (False, NAN)], 4) == \
        ([0, 1, 0], 101)
    # ... or kept far enough at the second go
    assert walk(ladder, [(False, NAN), (True, 0.1), (True, 0.5)], 4) == \
        ([0, 1, 0], 102)
    # a near-copy at the top is served: nothing is higher
    assert walk(ladder, [(True, 0.1)], 4) == ([0], 100)
    # a near-copy on the last try is served
    assert walk(ladder, [(False, NAN), (True, 0.1)], 2) == ([0, 1], 101)
    # unmeasured novelty (NaN) never triggers the floor
    assert walk(ladder, [(True, NAN)], 4) == ([0], 100)
