"""The pure functions behind tools/ablate.py."""
import math
import os

import pytest
from conftest import tiny_cls_cfg

from mmtada.apis import find_lag_hook, tada_wrapper_parent
from mmtada.apis.ablation import (arm_config, summarize, table_csv,
                                  table_markdown)


def test_arm_configs_keep_schedule_and_differ_where_the_arm_says(tmp_path):
    cfg = tiny_cls_cfg(tmp_path, max_epochs=4)
    base = arm_config(cfg, 'baseline', 1, 'C')
    assert find_lag_hook(base) is None and tada_wrapper_parent(base) is None
    assert base.randomness.seed == 1 and base.train_cfg.val_interval == 4
    useful = find_lag_hook(arm_config(cfg, 'useful', 0, 'C'))
    assert useful.generator == dict(type='mmtada.Upsample')
    assert useful.cache_dir == os.path.join('C', 'copies')
    tada = find_lag_hook(arm_config(cfg, 'tada', 0, 'C'))
    assert tada.cache_dir == os.path.join('C', 'diffusion')
    everything = arm_config(cfg, 'all', 0, 'C')
    assert find_lag_hook(everything).rule == dict(type='all')
    wrapper = tada_wrapper_parent(everything).dataset
    assert wrapper.num_slots is None and wrapper.slot_ratio == 2.0
    rand = find_lag_hook(arm_config(cfg, 'random', 3, 'C', tada_size=17))
    assert rand.rule == dict(type='random', num=17, seed=3)
    assert find_lag_hook(arm_config(cfg, 'tada_k2', 0, 'C')).num_variants == 2
    k2 = find_lag_hook(arm_config(cfg, 'useful_k2', 0, 'C'))
    assert k2.num_variants == 2 and k2.generator['type'] == 'mmtada.Upsample'
    cfg.custom_hooks[0].variant_filter = dict(type='mmtada.LabelAgreement')
    assert find_lag_hook(arm_config(cfg, 'tada', 0, 'C')).variant_filter
    assert find_lag_hook(arm_config(cfg, 'tada_nofilter', 0, 'C')
                         ).variant_filter is None
    assert find_lag_hook(arm_config(cfg, 'useful', 0, 'C')
                         ).variant_filter is None  # copies keep their label
    steps = arm_config(cfg, 'baseline_steps', 0, 'C', tada_size=10)
    assert find_lag_hook(steps) is None
    assert tada_wrapper_parent(steps).dataset.num_slots == 48  # TADA's
    cfg.custom_hooks[0].mode = 'restart'
    cfg.train_dataloader.dataset.num_slots = None
    steps = arm_config(cfg, 'baseline_steps', 0, 'C', tada_size=10)
    assert tada_wrapper_parent(steps).dataset.num_slots == 20  # 10 x k
    assert 'generator' not in find_lag_hook(cfg)  # the input is unchanged
    with pytest.raises(ValueError, match='run the tada arm first'):
        arm_config(cfg, 'random', 0, 'C')
    with pytest.raises(ValueError, match='unknown arm'):
        arm_config(cfg, 'copies', 0, 'C')


def run(arm, metric, total=0, generated=0, seconds=0.0, key='A',
        diverged=None):
    gen = dict(total=total, generated=generated, seconds=seconds,
               settings=dict(g=key)) if total else None
    return dict(arm=arm, metric=metric, seconds=100.0, generation=gen,
                diverged=diverged)


def test_summary_costs_variants_at_the_rate_where_they_were_made():
    rows = summarize([
        run('baseline', 50.0), run('baseline', 52.0),
        run('baseline', 0.0, diverged='loss nan from iteration 40'),
        # seed 0 made 100 variants in 50 s; seed 1 found them cached
        run('tada', 55.0, 100, 100, 50.0), run('tada', 57.0, 100, 0, 0.0),
        run('useful', 54.0, 100, 100, 0.5, key='copies')])
    by = {r['arm']: r for r in rows}
    assert [r['arm'] for r in rows] == ['baseline', 'useful', 'tada']
    assert by['baseline']['mean'] == 51.0  # the diverged run left out
    assert by['baseline']['runs'] == 3 and by['baseline']['diverged'] == 1
    assert by['baseline']['std'] == pytest.approx(math.sqrt(2))
    assert by['tada']['generation_s'] == pytest.approx(50.0)  # 100 x 0.5 s
    assert by['tada']['variants'] == 100
    assert by['useful']['std'] == 0.0 and by['useful']['runs'] == 1
    md = table_markdown(rows, 'top-1')
    assert md.count('\n') == 5 and '| tada |' in md and '56.00 ± 1.41' in md
    assert '| 3 (1 diverged) |' in md
    # COCO mAP is a fraction: its spread needs a third decimal
    md = table_markdown(summarize([run('baseline', 0.457),
                                   run('baseline', 0.462)]), 'coco/bbox_mAP')
    assert '0.460 ± 0.004' in md
    csv = table_csv(rows).splitlines()
    assert csv[0] == ('arm,runs,diverged,mean,std,variants,generation_s,'
                      'train_s')
    assert csv[1].startswith('baseline,3,1,51.0000,1.4142')


def test_the_ladder_arm_walks_the_configs_filter_down_a_ladder(cls_cfg):
    cfg = cls_cfg()
    cfg.custom_hooks[0].variant_filter = dict(
        type='mmtada.LabelAgreement', min_ratio=0.7, max_tries=3)
    hook = find_lag_hook(arm_config(cfg, 'tada_ladder', 0, 'C',
                                    ladder=(0.6, 0.3)))
    assert hook.variant_filter == dict(type='mmtada.LabelAgreement',
                                       min_ratio=0.7, strengths=(0.6, 0.3))
    assert hook.cache_dir == os.path.join('C', 'diffusion')
    cfg.custom_hooks[0].variant_filter = None
    hook = find_lag_hook(arm_config(cfg, 'tada_ladder', 0, 'C'))
    assert hook.variant_filter == dict(type='mmtada.LabelAgreement',
                                       strengths=(0.5, 0.35, 0.2))
    # the tada arm keeps the config's filter as it is
    assert find_lag_hook(arm_config(cfg, 'tada', 0, 'C')).variant_filter \
        is None
