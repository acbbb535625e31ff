"""``python -m mmtada COMMAND ...``: the ``mmtada`` command (see
:mod:`mmtada.cli`); also ``torchrun ... -m mmtada train ...``."""
from .cli import main

main()
