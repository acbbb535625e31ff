"""mmtada/cli.py: the ``mmtada`` command runs the shipped tools."""
import os.path as osp
import subprocess
import sys

import pytest

from mmtada import cli
from mmtada.utils.shipped_files import CONFIGS, TOOLS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_every_command_is_a_shipped_tool_with_a_summary(capsys):
    cli.main(['--help'])
    out = capsys.readouterr().out
    for command, tool in cli.COMMANDS.items():
        assert osp.isfile(osp.join(TOOLS, tool)), tool
        assert f'  {command} ' in out
        assert cli.summary(tool) and '\n' not in cli.summary(tool)
    # each tool's docstring heads the listing, not a wrapped half line
    assert "How good a run's variants are, or what strength to edit " \
           'with\n' in out


def test_configs_prints_the_folder_of_the_fragments(capsys):
    cli.main(['configs'])
    folder = capsys.readouterr().out.strip()
    assert folder == CONFIGS
    assert osp.isfile(osp.join(folder, '_base_', 'tada_cls.py'))


def test_an_unknown_command_names_the_commands():
    with pytest.raises(SystemExit, match=r"(?s)unknown command 'trian'.*"
                       r'train-diffusion'):
        cli.main(['trian', 'x.py'])


def test_a_command_is_its_tool_same_arguments_same_exit_status(tmp_path):
    """``python -m mmtada train`` parses as ``tools/train.py`` does, and a
    tool's error exits non-zero through the command too."""
    def run(*args):
        return subprocess.run([sys.executable, *args], capture_output=True,
                              text=True, timeout=300, cwd=str(tmp_path))

    ours = run('-m', 'mmtada', 'train', '--help')
    theirs = run(osp.join(REPO, 'tools', 'train.py'), '--help')
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout.split('\n')[1:] == theirs.stdout.split('\n')[1:]
    assert '--tada-mode' in ours.stdout
    bad = run('-m', 'mmtada', 'train', str(tmp_path / 'missing.py'))
    assert bad.returncode != 0 and 'missing.py' in bad.stderr
