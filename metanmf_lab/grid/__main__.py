"""``python -m metanmf_lab.grid``: see :func:`metanmf_lab.grid.cli.main`."""

import sys

from .cli import main

sys.exit(main())
