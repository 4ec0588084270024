"""Reports: charts, Markdown and one self-contained HTML file per scenario and per run.

``render_run(run_dir)`` is what ``offload bench`` and ``offload report`` call; it reads only the
run directory (the analysis lives in :mod:`offload.analysis`).
"""

from offload.report.render import RenderedRun, RenderedScenario, render_run, render_scenario

__all__ = ["RenderedRun", "RenderedScenario", "render_run", "render_scenario"]
