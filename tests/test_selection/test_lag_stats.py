import math

import pytest
import torch

from mmtada.selection import LagStats


def test_update_and_end_epoch_means_are_count_weighted():
    stats = LagStats(num_samples=4, num_classes=3)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0],
                           [0.0, 0.0, 1.0]])
    labels = torch.tensor([0, 0, 2])
    # sample 1 seen twice (a duplicate), sample 3 never seen
    stats.update(torch.tensor([0, 1, 2]), logits.log_softmax(1), labels)
    stats.update(torch.tensor([1]), logits[:1].log_softmax(1),
                 torch.tensor([0]))
    stats.end_epoch(1)
    lp = logits.log_softmax(1)
    assert stats.epochs == [1]
    assert stats.loss[0, 0] == pytest.approx(-lp[0, 0].item())
    assert stats.loss[0, 1] == pytest.approx(
        (-lp[1, 0].item() - lp[0, 0].item()) / 2)
    assert stats.correct[0, 1] == pytest.approx(0.5)
    assert stats.correct[0, 2] == 1
    assert math.isnan(stats.loss[0, 3])
    assert stats.probs[2].sum() == pytest.approx(1.0)
    latest = stats.latest(torch.tensor([0, 0, 2, 1]))
    assert latest['seen'].tolist() == [True, True, True, False]


def test_second_epoch_starts_from_zero():
    stats = LagStats(2, 2)
    stats.update(torch.tensor([0]), torch.tensor([[0.0, -5.0]]),
                 torch.tensor([0]))
    stats.end_epoch(1)
    stats.update(torch.tensor([1]), torch.tensor([[0.0, -5.0]]),
                 torch.tensor([1]))
    stats.end_epoch(2)
    assert stats.loss.shape == (2, 2)
    assert math.isnan(stats.loss[1, 0]) and stats.loss[1, 1] == 5.0


def test_state_dict_round_trip_is_weights_only_safe(tmp_path):
    stats = LagStats(3, 2)
    stats.update(torch.arange(3), torch.zeros(3, 2).log_softmax(1),
                 torch.tensor([0, 1, 0]))
    stats.end_epoch(1)
    path = tmp_path / 's.pth'
    torch.save(stats.state_dict(), path)
    other = LagStats(3, 2)
    other.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(other.correct, stats.correct)
    assert other.epochs == [1]


def test_out_of_range_index_and_shape_mismatch_are_clear():
    stats = LagStats(2, 2)
    with pytest.raises(IndexError, match='TADADataset'):
        stats.update(torch.tensor([2]), torch.zeros(1, 2), torch.tensor([0]))
    with pytest.raises(ValueError, match='new work_dir'):
        LagStats(3, 2).load_state_dict(stats.state_dict())
