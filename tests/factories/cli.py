"""``offload ARGS`` in the test's own process, for the commands whose outcome is decided before
any server starts (refusals, completion scripts, reading run directories).

A new interpreter pays ~3.5 s of CPU importing the harness (pandas, scipy, matplotlib) before
it parses its arguments; in-process, the suite pays that once. What a user sees is the same:
``python -m offload.cli`` is ``sys.exit(main())``, so the exit code is ``main``'s return
value and stdout and stderr are what it printed (captured by pytest's ``capsys``). Commands that
start processes, handle signals or run benches still run as subprocesses, as a user starts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class CliResult:
    """What ``offload ARGS`` answered: the exit code and the text on each stream."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """``offload ARGS`` through the CLI's ``main``, with what it printed captured apart from
    anything printed before."""
    from offload import cli

    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as exit_:  # argparse refuses a bad argument with exit 2, as the CLI does
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return CliResult(code, out, err)
