"""setup.py: the wheel is the whole product. Built here, installed into a
fresh virtual environment and used from a folder with no clone in sight:
the ``mmtada`` command trains configs that inherit the shipped fragments in
both config styles."""
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import zipfile

import pytest

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHORT = ['train_cfg.max_epochs=2', 'train_dataloader.num_workers=0',
         'val_dataloader.num_workers=0',
         'train_dataloader.dataset.dataset.per_class=10']

OLD_STYLE = """\
_base_ = [__import__('mmtada').config_path('_base_/resnet18_digits.py'),
          __import__('mmtada').config_path('_base_/tada_cls.py')]
train_dataloader = dict(dataset=dict(
    _delete_=True, **_base_.tada_dataset,
    dataset=_base_.train_dataloader.dataset))
custom_hooks = _base_.get('custom_hooks', []) + [
    dict(_base_.tada_hook, select_epoch=1, num_variants=2,
         generator=dict(type='mmtada.Upsample'))]
"""
NEW_STYLE = """\
from mmengine.config import read_base

with read_base():
    from mmtada.configs._base_.resnet18_digits import *  # noqa: F401,F403
    from mmtada.configs._base_.tada_cls import *  # noqa: F401,F403

train_dataloader.dataset = dict(  # noqa: F405
    tada_dataset, dataset=train_dataloader.dataset)  # noqa: F405
custom_hooks = [dict(tada_hook, select_epoch=1, num_variants=2,  # noqa: F405
                     generator=dict(type='mmtada.Upsample'))]
"""


def run(cmd, cwd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                         cwd=cwd, env=env)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return out.stdout + out.stderr


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheel')
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '-q', '-w', str(out), REPO], cwd=str(out))
    [name] = os.listdir(out)
    return osp.join(out, name)


def test_the_wheel_holds_package_configs_tools_and_the_command(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for name in ('mmtada/configs/_base_/tada_cls.py',
                 'mmtada/configs/_base_/tada_det.py',
                 'mmtada/configs/tada_resnet18_digits.py',
                 'mmtada/tools/train.py', 'mmtada/tools/generate.py',
                 'mmtada/tools/variant_quality.py', 'mmtada/tools/report.py',
                 'mmtada/tools/ablate.py', 'mmtada/tools/train_diffusion.py',
                 'mmtada/tools/dist_train.sh', 'mmtada/cli.py'):
        assert name in names, name
    # the clone's own things stay out
    assert not [n for n in names if n.startswith('tests/')
                or '/benchmark/' in n or n.endswith('install.sh')]
    entry = [n for n in names if n.endswith('entry_points.txt')]
    assert 'mmtada = mmtada.cli:main' in zipfile.ZipFile(wheel).read(
        entry[0]).decode()


def test_installed_wheel_trains_both_config_styles_with_no_clone(
        wheel, tmp_path):
    """A fresh venv gets mmtada from the wheel alone (its dependencies,
    which a registry would give, from this environment through a .pth
    file: site folders' own .pth files, such as this environment's
    editable install of the clone, are not read there)."""
    venv = tmp_path / 'venv'
    run([sys.executable, '-m', 'venv', '--without-pip', str(venv)],
        cwd=str(tmp_path))
    python = str(venv / 'bin' / 'python')
    run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
         '--no-deps', wheel], cwd=str(tmp_path))
    site = run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()'
                '["purelib"])'], cwd=str(tmp_path)).strip()
    with open(osp.join(site, 'dependencies.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    user = tmp_path / 'user'  # no clone in sight
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    where = run([python, '-c', 'import mmtada; print(mmtada.__file__)'],
                cwd=str(user), env=env)
    assert where.strip().startswith(site), where
    (user / 'old_style.py').write_text(OLD_STYLE)
    (user / 'new_style.py').write_text(NEW_STYLE)
    mmtada = str(venv / 'bin' / 'mmtada')
    assert 'train-diffusion' in run([mmtada, '--help'], cwd=str(user),
                                    env=env)
    for config in ('old_style.py', 'new_style.py'):
        work = str(user / 'work' / config[:-3])
        log = run([mmtada, 'train', config, '--work-dir', work,
                   '--cfg-options', *SHORT], cwd=str(user), env=env)
        assert 'TADA selection (kmeans, epoch 1)' in log, log[-2000:]
        assert osp.isfile(osp.join(work, 'tada', 'selection.json'))
        assert osp.isfile(osp.join(work, 'epoch_2.pth'))
