"""TADA from the toolboxes' own entry points: mmpretrain's and mmdet's
``tools/train.py`` as their packages ship them (``<pkg>/.mim/tools``), and
``mim train mmpretrain CONFIG`` itself, on configs that load mmtada
through ``custom_imports``. In-run mode selects, generates and trains
there; restart mode (two runs) is one clear error naming ``mmtada
train``."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from conftest import tiny_cls_cfg, tiny_det_cfg

from mmtada.utils import RunLayout

pytestmark = pytest.mark.slow


def toolbox_train(toolbox, cfg, work_dir, check=True):
    """Run ``toolbox``'s own shipped ``tools/train.py`` on ``cfg``."""
    spec = importlib.util.find_spec(toolbox)
    script = osp.join(osp.dirname(spec.origin), '.mim', 'tools', 'train.py')
    assert osp.isfile(script), script
    cfg.custom_imports = dict(imports=['mmtada'], allow_failed_imports=False)
    path = f'{work_dir}.py'
    cfg.dump(path)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('PYTHONPATH', None)
    out = subprocess.run(
        [sys.executable, script, path, '--work-dir', str(work_dir)],
        env=env, cwd=osp.dirname(path), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=900)
    if check:
        assert out.returncode == 0, out.stdout[-4000:]
    return out


@pytest.fixture(scope='module')
def mim(tmp_path_factory):
    """The ``mim`` command of openmim, in a venv of its own that sees this
    environment through a .pth file: openmim's requirements pin versions
    the stack cannot take (setuptools 60, which torch refuses; requests,
    urllib3), so openmim comes without them (``--no-deps``), with the few
    modules ``mim train`` imports. Needs the package registry, as the
    install does."""
    import site
    venv = tmp_path_factory.mktemp('mim') / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    inner = subprocess.run(
        [python, '-c', 'import site; print(site.getsitepackages()[0])'],
        check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    with open(osp.join(inner, 'environment.pth'), 'w') as f:
        f.write(site.getsitepackages()[0] + '\n')
    pip = [sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
           '--no-deps']
    subprocess.run(pip + ['openmim==0.3.9', 'tabulate', 'colorama',
                          'model-index'], check=True)
    subprocess.run(pip[:-1] + ['pandas'], check=True)  # with its own
    return str(venv / 'bin' / 'mim')


def test_mim_train_runs_tada_in_run(tmp_path, pixel_weights, mim):
    from conftest import REPO
    work = tmp_path / 'work'
    cfg = tiny_cls_cfg(work, generator=pixel_sdedit(pixel_weights),
                       select_epoch=1, max_epochs=2, num_workers=1,
                       persistent_workers=True)
    cfg.val_dataloader.persistent_workers = False
    cfg.custom_imports = dict(imports=['mmtada'], allow_failed_imports=False)
    path = f'{work}.py'
    cfg.dump(path)
    out = subprocess.run(
        [mim, 'train', 'mmpretrain', path, '--work-dir', str(work)],
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO),
        cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:]
    assert '.mim/tools/train.py' in out.stdout  # mim ran the shipped script
    layout = RunLayout(str(work))
    selected = json.load(open(layout.selection))['indices']
    gen = json.load(open(layout.generation))
    assert selected and gen['total'] == 2 * len(selected)
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))


def pixel_sdedit(weights):
    return dict(type='mmtada.PixelSDEdit', weights=weights,
                num_inference_steps=5)


def test_mmpretrain_train_py_runs_tada_in_run(tmp_path, pixel_weights):
    work = tmp_path / 'work'
    # one persistent worker, as mmpretrain's script sets by default: the
    # hook restarts it once so that it sees the variants
    cfg = tiny_cls_cfg(work, generator=pixel_sdedit(pixel_weights),
                       select_epoch=1, max_epochs=2, num_workers=1,
                       persistent_workers=True)
    cfg.val_dataloader.persistent_workers = False  # it has no workers
    toolbox_train('mmpretrain', cfg, work)
    layout = RunLayout(str(work))
    selected = json.load(open(layout.selection))['indices']
    gen = json.load(open(layout.generation))
    assert selected and gen['total'] == 2 * len(selected)
    assert gen['generated'] == gen['total']  # pixel SDEdit, none reused
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))


def test_mmdet_train_py_runs_tada_in_run(tmp_path, digit_canvases,
                                         pixel_weights):
    work = tmp_path / 'work'
    cfg = tiny_det_cfg(work, digit_canvases, generator=dict(
        type='mmtada.BoxPreservingSDEdit', margin=0.1,
        generator=pixel_sdedit(pixel_weights)))
    toolbox_train('mmdet', cfg, work)
    layout = RunLayout(str(work))
    selected = json.load(open(layout.selection))['indices']
    gen = json.load(open(layout.generation))
    assert selected and gen['total'] == 2 * len(selected)
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))


def test_restart_mode_through_a_toolbox_script_names_mmtada_train(
        tmp_path):
    work = tmp_path / 'work'
    cfg = tiny_cls_cfg(work, mode='restart')
    cfg.val_dataloader.persistent_workers = False
    out = toolbox_train('mmpretrain', cfg, work, check=False)
    assert out.returncode != 0
    assert "mode='restart'" in out.stdout
    assert 'mmtada train CONFIG' in out.stdout
    assert not osp.exists(RunLayout(str(work)).selection)
