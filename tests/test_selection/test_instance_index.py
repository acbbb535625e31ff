import math

import pytest
import torch

from mmtada.selection import InstanceIndex


class Infos:
    """Data infos, read as SampleReader gives them."""

    def __init__(self, infos):
        self.infos = infos

    def __len__(self):
        return len(self.infos)

    def data_info(self, i):
        return self.infos[i]


def inst(label, box, ignore=0):
    return dict(bbox=box, bbox_label=label, ignore_flag=ignore)


@pytest.fixture
def index():
    return InstanceIndex(Infos([
        dict(instances=[inst(0, [0, 0, 4, 4]), inst(1, [1, 1, 3, 3], 1),
                        inst(2, [2, 2, 6, 6])]),
        dict(instances=[]),
        dict(instances=[inst(1, [0, 0, 2, 2])]),
    ]))


def test_identity_is_image_and_position_ignored_skipped(index):
    assert index.num_instances == 3 and index.num_images == 3
    assert index.image.tolist() == [0, 0, 2]
    assert index.position.tolist() == [0, 2, 0]  # position 1 is ignored
    assert index.labels.tolist() == [0, 2, 1]
    assert index.bboxes[0].tolist() == [[0, 0, 4, 4], [2, 2, 6, 6]]
    assert index.bboxes[1].shape == (0, 4)
    assert index.numbers(0).tolist() == [0, 1]
    assert index.numbers(1).tolist() == []
    assert index.numbers(2).tolist() == [2]


def test_aggregates(index):
    v = torch.tensor([1.0, 3.0, float('nan')])
    assert index.aggregate(v, 'max').tolist()[0] == 3.0
    assert index.aggregate(v, 'mean').tolist()[0] == 2.0
    assert index.aggregate(v, 'sum').tolist()[0] == 4.0
    for how in ('max', 'mean', 'sum'):
        out = index.aggregate(v, how)
        assert math.isnan(out[1]) and math.isnan(out[2])
    assert index.count_per_image(torch.tensor([True, True, False])).tolist(
    ) == [2, 0, 0]
    with pytest.raises(ValueError, match='aggregate must be one of'):
        index.aggregate(v, 'median')
