"""HeadRecorder on crafted head outputs and data samples."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmtada.engine import HeadRecorder
from mmtada.selection import LagStats


def samples(*items):
    out = []
    for sample_idx, source, synthetic, label in items:
        s = DataSample().set_gt_label(label)
        s.set_metainfo(dict(sample_idx=sample_idx, source_idx=source,
                            is_synthetic=synthetic))
        out.append(s)
    return out


def test_records_real_samples_by_source_and_skips_synthetic_ones():
    head = torch.nn.Linear(4, 3)
    recorder = HeadRecorder(head, 'head')
    stats = LagStats(5, 3)
    x = torch.randn(3, 4)
    head.train()
    logits = head(x)
    batch = samples((7, 2, False, 1), (8, 4, True, 0), (1, 1, False, 2))
    recorder.consume(batch, stats)
    assert recorder._captured is None
    stats.end_epoch(1)
    expected = F.cross_entropy(logits.detach()[[0, 2]],
                               torch.tensor([1, 2]), reduction='none')
    assert stats.loss[0, 2] == pytest.approx(expected[0].item(), rel=1e-5)
    assert stats.loss[0, 1] == pytest.approx(expected[1].item(), rel=1e-5)
    assert torch.isnan(stats.loss[0, [0, 3, 4]]).all()  # 4: synthetic only


def test_eval_forwards_are_not_recorded_and_remove_stops_it():
    head = torch.nn.Linear(4, 3)
    recorder = HeadRecorder(head, 'head')
    head.eval()
    head(torch.randn(2, 4))
    assert recorder._captured is None
    head.train()
    recorder.remove()
    head(torch.randn(2, 4))
    assert recorder._captured is None


def test_outputs_of_the_wrong_shape_name_the_fix():
    head = torch.nn.Linear(4, 3)
    recorder = HeadRecorder(head, 'neck')
    head(torch.randn(2, 4))
    with pytest.raises(RuntimeError, match='point head_path'):
        recorder.consume(samples((0, 0, False, 0)), LagStats(2, 3))
    head(torch.randn(1, 4))
    with pytest.raises(ValueError, match='set num_classes'):
        recorder.consume(samples((0, 0, False, 0)), LagStats(2, 5))


class TwoHeads(torch.nn.Module):
    """Outputs a tuple of logits, as mmpretrain's ConformerHead does."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.a(x), self.b(x)


def test_tuple_outputs_are_summed_and_dicts_name_the_fix():
    head = TwoHeads()
    recorder = HeadRecorder(head, 'head')
    x = torch.randn(1, 4)
    a, b = head(x)
    stats = LagStats(1, 3)
    recorder.consume(samples((0, 0, False, 2)), stats)
    stats.end_epoch(1)
    expected = F.cross_entropy((a + b).detach(), torch.tensor([2]))
    assert stats.loss[0, 0] == pytest.approx(expected.item(), rel=1e-5)
    recorder.remove()

    class Named(torch.nn.Module):
        def forward(self, x):
            return dict(task=x)

    named = Named()
    HeadRecorder(named, 'head')
    with pytest.raises(RuntimeError, match="outputs a dict.*record='probe'"):
        named(x)


def test_items_served_by_no_tada_wrapper_are_not_recorded():
    head = torch.nn.Linear(4, 3)
    recorder = HeadRecorder(head, 'head')
    head(torch.randn(2, 4))
    other = DataSample().set_gt_label(0)
    other.set_metainfo(dict(sample_idx=0))  # another part of a ConcatDataset
    stats = LagStats(2, 3)
    recorder.consume(samples((5, 1, False, 1)) + [other], stats)
    stats.end_epoch(1)
    assert torch.isnan(stats.loss[0, 0]) and not torch.isnan(stats.loss[0, 1])
