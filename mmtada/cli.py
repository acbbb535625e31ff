"""The ``mmtada`` command: each subcommand runs one shipped tool.

    mmtada COMMAND [ARGS ...]       (or: python -m mmtada COMMAND ...)
    mmtada train CONFIG --work-dir DIR
    torchrun --nproc_per_node 8 -m mmtada train CONFIG --launcher pytorch

A subcommand is the very file ``tools/<name>.py`` of the package (run as
``__main__`` with ``ARGS``), so ``mmtada train`` and ``python
tools/train.py`` are the same code with the same arguments and exit
status. ``mmtada configs`` prints where the shipped configs are.
"""
import ast
import re
import runpy
import sys
from typing import List, Optional

from .utils.shipped_files import CONFIGS, tool_path

# command -> tool file under mmtada/tools
COMMANDS = {
    'train': 'train.py',
    'test': 'test.py',
    'generate': 'generate.py',
    'quality': 'variant_quality.py',
    'report': 'report.py',
    'ablate': 'ablate.py',
    'train-diffusion': 'train_diffusion.py',
    'finetune-diffusion': 'finetune_diffusion.py',
    'demo': 'demo.py',
    'box-fidelity': 'box_fidelity.py',
    'variant-grid': 'variant_grid.py',
    'selection-study': 'selection_study.py',
    'flip-labels': 'flip_labels.py',
}


def summary(tool: str) -> str:
    """The first sentence of a tool's docstring (read, not imported)."""
    with open(tool_path(tool)) as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ''
    first = ' '.join(doc.split('\n\n')[0].split())
    return re.split(r'[.:] | \(', first)[0].rstrip('.')


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ['usage: mmtada COMMAND [ARGS ...]  (mmtada COMMAND --help)', '',
             'commands:']
    lines += [f'  {c:<{width}}  {summary(t)}' for c, t in COMMANDS.items()]
    lines += [f"  {'configs':<{width}}  print the folder of the shipped "
              'configs (fragments: _base_/tada_cls.py, _base_/tada_det.py)']
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(usage())
        return
    command, args = argv[0], argv[1:]
    if command == 'configs':
        print(CONFIGS)
        return
    if command not in COMMANDS:
        raise SystemExit(f'mmtada: unknown command {command!r}.\n\n'
                         f'{usage()}')
    path = tool_path(COMMANDS[command])
    sys.argv = [path, *args]
    runpy.run_path(path, run_name='__main__')


if __name__ == '__main__':
    main()
