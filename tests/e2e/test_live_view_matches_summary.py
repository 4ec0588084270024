"""The live view's figures for a finished phase are the summary's, up to the window's edges.

The live view (offload/run/live.py) shows what a person watching a bench sees: the last
5 s of records as the generator has written them, by the time each request ended. The summary
counts a phase's requests by the time they were scheduled. Replaying the shared e2e run's own
records as they stood at the end of each phase (every row of a request that had ended by then,
nothing later), the live view must show that phase: its signup p50 and answer count are the
summary's for the phase, apart from the requests that straddle a phase edge (scheduled before
it, ended after it) — the window rounding — and its error and timeout counts are the sum of
the phases so far. The e2e scenario's phases are 4-5 s long, so the live window (5 s) covers
exactly one phase at its end: a live view that mixed phases (the slow provider's 300 ms with
the healthy 20 ms) would be off by far more than the edges allow.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from offload.run.live import WINDOW_S, LiveWindow
from offload.rundir.manifest import PhaseRecord, ScenarioManifest
from offload.rundir.summary import Summary


def _rows(design_dir: Path) -> list[tuple[Path, list[str], list[dict[str, str]]]]:
    files = []
    for path in sorted(design_dir.glob("requests*.csv")):
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            files.append((path, list(reader.fieldnames or []), list(reader)))
    assert files, f"no requests*.csv in {design_dir}"
    return files


def _as_written_by(design_dir: Path, replay_dir: Path, epoch: float) -> Path:
    """A copy of the design's records as the generator had written them at ``epoch``: the
    rows of requests that had ended by then (the plan, for the offered rate, as it was)."""
    replay_dir.mkdir(parents=True)
    shutil.copy(design_dir / "plan.json", replay_dir / "plan.json")
    for path, header, rows in _rows(design_dir):
        with (replay_dir / path.name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(r for r in rows if r["ended"] and float(r["ended"]) <= epoch)
    return replay_dir


def _straddling(design_dir: Path, t0: float, phase: PhaseRecord) -> int:
    """Requests scheduled on one side of a phase edge and ended on the other."""
    count = 0
    for _, _, rows in _rows(design_dir):
        for row in rows:
            if not row["ended"]:
                continue
            scheduled, ended = float(row["scheduled"]) - t0, float(row["ended"]) - t0
            count += sum(scheduled < edge <= ended for edge in (phase.start_s, phase.end_s))
    return count


@pytest.mark.parametrize("design", ["sync", "async"])
def test_the_live_view_at_a_phase_end_shows_that_phases_figures(
    e2e_run_dir: Path, tmp_path: Path, design: str
):
    scenario_dir = e2e_run_dir / "e2e-slow"
    manifest = ScenarioManifest.in_folder(scenario_dir)
    summary = Summary.in_folder(scenario_dir).designs[design]
    t0 = manifest.designs[design].t0_epoch
    assert t0 is not None
    design_dir = scenario_dir / design
    assert [p.name for p in manifest.phases] == ["healthy", "slow", "recovery"]
    errors_so_far = timeouts_so_far = 0
    for phase in manifest.phases:
        assert phase.duration_s <= WINDOW_S, "a phase longer than the window: compare less"
        signups = summary.signup.phases[phase.name]
        bystanders = summary.bystander.phases[phase.name]
        errors_so_far += signups.errors + bystanders.errors
        timeouts_so_far += signups.timeouts + bystanders.timeouts
        replay = _as_written_by(design_dir, tmp_path / phase.name, t0 + phase.end_s)

        live = LiveWindow(replay, lag_s=0).figures(now=t0 + phase.end_s, t0=t0)

        edges = _straddling(design_dir, t0, phase)
        answered = signups.count - signups.dropped + bystanders.count - bystanders.dropped
        shown = live.answered_rate * min(WINDOW_S, phase.end_s)
        assert abs(shown - answered) <= edges, (phase.name, shown, answered, edges)
        # the p50 of the phase, not of the run: within 15 % (the edges' few requests)
        assert signups.latency_ms.p50 is not None and live.signup_p50_ms is not None
        assert live.signup_p50_ms == pytest.approx(signups.latency_ms.p50, rel=0.15, abs=1.0), (
            phase.name
        )
        # errors and timeouts are counted since t0, by the time the request ended
        assert abs(live.errors - errors_so_far) <= edges, phase.name
        assert abs(live.timeouts - timeouts_so_far) <= edges, phase.name


def test_the_phases_differ_enough_for_the_comparison_to_mean_something(e2e_run_dir: Path):
    """Under the slow provider the sync design's p50 is several times the healthy one's: a
    live view showing the whole run, or the wrong phase, would fail the test above."""
    summary = Summary.in_folder(e2e_run_dir / "e2e-slow").designs["sync"]
    healthy = summary.signup.phases["healthy"].latency_ms.p50
    slow = summary.signup.phases["slow"].latency_ms.p50
    assert healthy is not None and slow is not None
    assert slow > 3 * healthy
