"""Where a command's human output goes: stdout, or stderr when stdout carries a JSON document.

A CI log that is not a terminal gets plain lines 160 columns wide on either stream, so a
`--json` run's log reads like any other run's."""

from __future__ import annotations

import sys

from rich.console import Console


def human_console(*, stderr: bool = False) -> Console:
    """The console a person reads: stdout, or stderr beside ``--json``'s document."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        stderr=stderr, highlight=False, soft_wrap=True, width=None if stream.isatty() else 160
    )
