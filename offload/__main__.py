"""``python -m offload``: the same command as ``offload`` (useful where the venv's scripts
directory is not on PATH)."""

import sys

from offload.cli import main

sys.exit(main())
