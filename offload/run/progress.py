"""Progress of a bench on the terminal: which scenario, which design, which phase, time left.

On a terminal, a live rich progress bar with the live figures of the running design under it
(``offload/run/live.py``); elsewhere (CI logs, also when ``FORCE_COLOR`` is set, see
:func:`draws_live`), a plain line every few seconds with the same figures, so that a log
shows where a long run was, and how it was doing, when it stopped. ``offload bench --quiet``
leaves the figures out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _ProgressWithFigures(Progress):
    """rich's progress bar with one more line under it: the running design's live figures."""

    figures = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.figures:
            yield Text(f"  {self.figures}", style="dim", overflow="ellipsis", no_wrap=True)


def draws_live(console: Console) -> bool:
    """Redraw a live progress bar only on an interactive terminal that really is one.

    rich treats any output as a terminal when ``FORCE_COLOR`` is set — which many CI setups do
    for coloured logs — and would then redraw the bar into the log twice a second (56 KB of
    escape sequences for a 20 s bench, measured); a CI log gets the plain lines instead.
    ``TTY_INTERACTIVE=0`` (rich's switch) gives the plain lines on a terminal too.
    """
    isatty = getattr(console.file, "isatty", None)
    try:
        is_tty = bool(isatty is not None and isatty())
    except ValueError:  # a closed file: nothing to draw on
        is_tty = False
    return console.is_interactive and is_tty


class BenchProgress:
    def __init__(
        self,
        console: Console,
        *,
        total_runs: int,
        line_every_s: float = 10.0,
        live_figures: bool = True,
    ) -> None:
        self.console = console
        self.total_runs = total_runs
        self.line_every_s = line_every_s
        #: show the running design's figures (``offload bench --quiet``: False)
        self.live_figures = live_figures
        self._live = draws_live(console)
        self._figures = ""
        self._progress: _ProgressWithFigures | None = None
        self._task: TaskID | None = None
        self._label = ""
        self._last_line = 0.0
        self.done_runs = 0

    def __enter__(self) -> BenchProgress:
        if self._live:
            self._progress = _ProgressWithFigures(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_run(self, scenario: str, design: str, total_s: float) -> None:
        self._label = f"[{self.done_runs + 1}/{self.total_runs}] {scenario} · {design}"
        if self._progress is not None:
            self._task = self._progress.add_task(self._label, total=total_s, detail="starting")
        else:
            self.console.print(f"{self._label}: starting ({total_s:.0f}s planned)")
        self._last_line = time.monotonic()

    def figures(self, line: str) -> None:
        """The running design's live figures (shown under the bar, or in the next plain line);
        an empty line clears them."""
        if not self.live_figures:
            return
        self._figures = line
        if self._progress is not None:
            self._progress.figures = line

    def update(self, elapsed_s: float, detail: str, total_s: float | None = None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=elapsed_s, detail=detail)
            if total_s is not None:
                self._progress.update(self._task, total=total_s)
        elif time.monotonic() - self._last_line >= self.line_every_s:
            self._last_line = time.monotonic()
            left = f", {max(0.0, (total_s or 0) - elapsed_s):.0f}s left" if total_s else ""
            figures = f" — {self._figures}" if self._figures else ""
            self.console.print(f"{self._label}: {detail} ({elapsed_s:.0f}s{left}){figures}")

    def finish_run(self, outcome: str) -> None:
        self.done_runs += 1
        self.figures("")
        if self._progress is not None and self._task is not None:
            task = self._progress.tasks[self._task]
            self._progress.update(self._task, completed=task.total, detail=outcome)
        else:
            self.console.print(f"{self._label}: {outcome}")

    def note(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            self.console.print(message)
