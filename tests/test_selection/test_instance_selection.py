import torch

from mmtada.registry import SELECTION_RULES
from mmtada.selection import InstanceIndex, LagStats, Selection, select_images
from test_instance_index import Infos, inst


def stats_for(index, learned, own_score):
    stats = LagStats(index.num_instances, 3)
    rows = torch.full((index.num_instances, 3), 1e-6)
    rows[torch.arange(index.num_instances), index.labels] = own_score
    stats.update(torch.arange(index.num_instances), rows.log(),
                 index.labels, correct=learned)
    stats.end_epoch(1)
    return stats.latest(index.labels)


def test_unlearned_selects_images_holding_an_unlearned_instance(tmp_path):
    index = InstanceIndex(Infos([
        dict(instances=[inst(0, [0, 0, 4, 4]), inst(2, [2, 2, 6, 6])]),
        dict(instances=[inst(1, [0, 0, 2, 2])]),
        dict(instances=[inst(1, [0, 0, 2, 2]), inst(1, [4, 4, 8, 8])]),
    ]))
    learned = torch.tensor([True, False, True, False, False])
    stats = stats_for(index, learned,
                      torch.tensor([0.9, 0.1, 0.8, 0.2, 0.05]))
    rule = SELECTION_RULES.build(dict(type='unlearned'))
    sel = select_images(rule, 'unlearned', stats, index, ('a', 'b', 'c'),
                        epoch=1, dataset='fp')
    assert sel.indices == [0, 2] and sel.num_samples == 3
    assert sel.per_class_counts == dict(a=0, b=2, c=1)
    assert sel.per_class_totals == dict(a=1, b=3, c=1)
    assert sel.instances['selected'] == [False, True, False, True, True]
    assert sel.instances['image'] == [0, 0, 1, 2, 2]
    assert sel.instances['position'] == [0, 1, 0, 0, 1]
    assert sel.instances['learned'] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert sel.scores == [1.0, 0.0, 1.0]  # max of 1 - learned
    assert sel.summary().startswith(
        'TADA selection (unlearned, epoch 1): 2/3 images (66.7%); 3/5 '
        'instances selected | instances per class a:0/1 b:2/3 c:1/1')
    path = str(tmp_path / 'selection.json')
    sel.dump(path)
    assert Selection.load(path).instances == sel.instances
    two = select_images(rule, 'unlearned', stats, index, ('a', 'b', 'c'),
                        epoch=1, min_instances=2)
    assert two.indices == [2]
    mean = select_images(rule, 'unlearned', stats, index, ('a', 'b', 'c'),
                         epoch=1, aggregate='mean')
    assert mean.scores == [0.5, 0.0, 1.0]


def test_kmeans_on_instances_picks_the_low_scoring_ones():
    boxes = [dict(instances=[inst(c % 2, [0, 0, 4, 4])]) for c in range(20)]
    index = InstanceIndex(Infos(boxes))
    own = torch.tensor([0.9, 0.85] * 5 + [0.05, 0.1] * 5)
    stats = stats_for(index, own > 0.3, own)
    rule = SELECTION_RULES.build(dict(type='kmeans'))
    sel = select_images(rule, 'kmeans', stats, index, ('a', 'b', 'c'), 1)
    assert sel.indices == list(range(10, 20))


def test_fraction_of_instances_and_image_budget():
    index = InstanceIndex(Infos([
        dict(instances=[inst(0, [0, 0, 4, 4])] * 4),  # 1 of 4 unlearned
        dict(instances=[inst(1, [0, 0, 2, 2])] * 2),  # 2 of 2
        dict(instances=[inst(2, [0, 0, 2, 2])] * 4),  # 3 of 4
    ]))
    learned = torch.tensor([False, True, True, True, False, False,
                            False, False, False, True])
    own = torch.where(learned, torch.tensor(0.9), torch.tensor(0.1))
    own[4:6] = 0.05  # image 1's instances lag most
    stats = stats_for(index, learned, own)
    rule = SELECTION_RULES.build(dict(type='unlearned'))
    names = ('a', 'b', 'c')
    assert select_images(rule, 'unlearned', stats, index, names, 1,
                         min_instances=1).indices == [0, 1, 2]
    half = select_images(rule, 'unlearned', stats, index, names, 1,
                         min_instances=0.5)
    assert half.indices == [1, 2]
    assert half.rule_cfg['min_instances'] == 0.5
    # at most 1 image (1/3 of 3): the highest mean score (1 - learned)
    capped = select_images(rule, 'unlearned', stats, index, names, 1,
                           aggregate='mean', max_fraction=0.34)
    assert capped.indices == [1]
    # the instance detail still lists every lagging instance
    assert sum(capped.instances['selected']) == 6
