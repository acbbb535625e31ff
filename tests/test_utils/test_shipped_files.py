"""mmtada/utils/shipped_files.py: the configs and tools inside the package."""
import os.path as osp

import pytest
from mmengine.config import Config

import mmtada
from mmtada.utils.shipped_files import CONFIGS, TOOLS, config_path

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_the_clones_configs_and_tools_are_the_packages():
    assert osp.samefile(osp.join(REPO, 'configs'), CONFIGS)
    assert osp.samefile(osp.join(REPO, 'tools'), TOOLS)
    assert osp.dirname(CONFIGS) == osp.dirname(mmtada.__file__)


def test_config_path_of_a_fragment_and_of_a_missing_name():
    path = mmtada.config_path('_base_/tada_cls.py')
    assert osp.isabs(path) and osp.isfile(path)
    assert osp.samefile(path, osp.join(REPO, 'configs', '_base_',
                                       'tada_cls.py'))
    with pytest.raises(FileNotFoundError, match=r'tada_clss\.py.*'
                       r'_base_/tada_cls\.py'):
        config_path('_base_/tada_clss.py')


def test_old_style_route_inherits_the_fragment_from_any_folder(tmp_path):
    """mmengine evaluates ``_base_``: the fragment's path from the package,
    wherever the user's config sits."""
    (tmp_path / 'mine.py').write_text(
        "_base_ = [__import__('mmtada').config_path("
        "'_base_/resnet18_digits.py'),\n"
        "          __import__('mmtada').config_path('_base_/tada_det.py')]\n"
        'custom_hooks = [dict(_base_.tada_hook, select_epoch=2)]\n')
    cfg = Config.fromfile(str(tmp_path / 'mine.py'))
    assert cfg.custom_hooks[0].type == 'mmtada.DetLearningLagHook'
    assert cfg.custom_hooks[0].select_epoch == 2
    assert cfg.custom_imports.imports == ['mmtada']
