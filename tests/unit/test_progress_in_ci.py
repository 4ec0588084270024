"""A CI log gets plain progress lines even when the CI asks rich for colours (FORCE_COLOR).

rich treats a pipe as a terminal when ``FORCE_COLOR`` is set; the bench's progress bar would
then be redrawn into the log twice a second. The bench decides on the live bar from the output
being an interactive terminal for real. tests/e2e/test_bench_ci_output.py reads a real
bench's log.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from offload.run.progress import BenchProgress, draws_live

pytestmark = pytest.mark.unit


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_plain_lines_even_with_force_color(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = io.StringIO()
    console = Console(file=out, width=300, highlight=False)  # as offload bench makes it
    assert console.is_terminal  # what rich concludes from FORCE_COLOR alone
    assert not draws_live(console)

    with BenchProgress(console, total_runs=1, line_every_s=0) as progress:
        progress.start_run("slow-downstream", "async", 60)
        progress.figures("20/s offered, 19.8/s answered")
        for second in range(1, 4):
            progress.update(second, "phase slow", 60)
        progress.finish_run("done")

    text = out.getvalue()
    assert "\r" not in text and "\x1b[2K" not in text and "\x1b[?25l" not in text
    lines = [line for line in text.splitlines() if line]
    assert len(lines) == 5  # starting, three updates, done: one line each, none redrawn
    assert "— 20/s offered, 19.8/s answered" in lines[1]


def test_an_interactive_terminal_gets_the_live_bar_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("TTY_INTERACTIVE", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert draws_live(Console(file=_Tty()))
    monkeypatch.setenv("TTY_INTERACTIVE", "0")
    assert not draws_live(Console(file=_Tty()))
