import os.path as osp

from mmtada.utils import RunLayout


def test_every_tada_file_of_a_run_lives_under_its_tada_folder(tmp_path):
    layout = RunLayout(str(tmp_path))
    tada = osp.join(str(tmp_path), 'tada')
    for name in ('selection', 'trajectories', 'generation', 'dataset_state',
                 'served', 'variants', 'box_fidelity', 'variant_quality',
                 'report'):
        assert osp.dirname(getattr(layout, name)) == tada
    select = layout.select_run
    assert select.work_dir == osp.join(str(tmp_path), 'select')
    assert select.selection == osp.join(str(tmp_path), 'select', 'tada',
                                        'selection.json')
