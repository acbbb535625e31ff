"""tools/train.py and tools/test.py, as a user runs them."""
import json
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'tada_resnet18_digits.py')
SHORT = ['train_cfg.max_epochs=2', 'custom_hooks.0.select_epoch=1',
         'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
         'train_dataloader.dataset.dataset.indices=200']


def run(*args):
    out = subprocess.run([sys.executable, *args], capture_output=True,
                         text=True, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


def test_train_resume_and_test_from_the_command_line(tmp_path):
    work = str(tmp_path / 'work')
    log = run('tools/train.py', CONFIG, '--work-dir', work,
              '--cfg-options', *SHORT)
    assert 'TADA selection (kmeans, epoch 1)' in log
    sel = json.load(open(osp.join(work, 'tada', 'selection.json')))
    assert sel['num_samples'] == 200
    # --resume (auto) continues from epoch 2 with the same selection
    log = run('tools/train.py', CONFIG, '--work-dir', work, '--resume',
              '--cfg-options', *SHORT[1:], 'train_cfg.max_epochs=3')
    assert 'TADA resumed' in log and 'Epoch(train) [3]' in log
    assert 'made, ' in log and '0 made' in log
    log = run('tools/test.py', CONFIG, osp.join(work, 'epoch_3.pth'),
              '--work-dir', work, '--cfg-options', *SHORT[3:4])
    assert 'accuracy/top1' in log


def test_baseline_flag_trains_without_tada(tmp_path):
    work = str(tmp_path / 'base')
    log = run('tools/train.py', CONFIG, '--baseline', '--work-dir', work,
              '--cfg-options', *SHORT)
    assert 'TADA' not in log
    assert not osp.exists(osp.join(work, 'tada'))
    assert 'Epoch(train) [2][7/7]' in log  # 200 real samples, batch 32
