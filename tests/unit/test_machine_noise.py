"""A generator that fell behind is blamed on the true cause: its own loop, or a machine that
other processes kept busy; a busy machine is reported even when the run stayed valid."""

from __future__ import annotations

import pandas as pd
import pytest

from offload.analysis.comparison import analyse_scenario
from offload.analysis.machine import machine_load
from offload.analysis.noise import BUSY_OTHER_PROCESSES_SHARE, lag_cause
from offload.analysis.summary import write_summary
from offload.report.document import Table
from offload.report.markdown import render_markdown
from offload.report.sections import machine_blocks
from offload.rundir.summary import MachineLoad, Summary
from tests.factories.records import (
    DURATION,
    T0,
    build_run,
    make_generator_lag,
    write_machine_record,
)


def _frame(rows: list[tuple[float, float, float, float]], cores: int = 2) -> pd.DataFrame:
    """Cumulative rows (t, busy_s, run_cpu_s, steal_s) of a machine that is up all the time."""
    return pd.DataFrame(
        [
            {"t": t, "cores": cores, "total_s": (t - rows[0][0]) * cores, "busy_s": busy,
             "steal_s": steal, "iowait_s": 0.0, "run_cpu_s": run}
            for t, busy, run, steal in rows
        ]
    )  # fmt: skip


def _machine(other_max: float, steal_max: float = 0.0) -> MachineLoad:
    frame = _frame([(0, 0, 0, 0), (1, other_max * 2, 0, steal_max * 2)])
    load = machine_load(frame, 0, 1)
    assert load is not None
    return load


def test_other_processes_share_is_the_machines_busy_time_beyond_the_runs_own():
    # 2 cores; the run uses one core throughout, another process half a core in seconds 2-3
    frame = _frame([(0, 0, 0, 0), (1, 1, 1, 0), (2, 2, 2, 0), (3, 3.5, 3, 0), (4, 4.5, 4, 0)])
    load = machine_load(frame, 0, 4)
    assert load is not None
    assert load.cores == 2 and load.seconds == 4
    assert load.busy_share.max == pytest.approx(0.75)
    assert load.other_processes_share.max == pytest.approx(0.25)
    assert load.other_processes_share.mean == pytest.approx(0.5 / 8)
    assert load.other_processes_share.p50 == pytest.approx(0.0)


def test_only_whole_seconds_of_the_measured_part_count():
    # a busy warm-up second and a 0.1 s tail interval (the sampler's last sample) are left out
    frame = _frame([(0, 2, 0, 0), (1, 2.2, 0.2, 0), (2, 2.4, 0.4, 0), (2.1, 2.6, 0.4, 0)])
    load = machine_load(frame, 1, 2.1)
    assert load is not None
    assert load.seconds == 1
    assert load.other_processes_share.max == pytest.approx(0.0)
    assert not load.busy


def test_no_machine_record_gives_no_machine_figures():
    assert machine_load(pd.DataFrame(), 0, 10) is None


def test_a_clean_run_has_no_lag_cause():
    assert lag_cause(2.0, 0.1, _machine(0.02)) is None


def test_a_lagging_generator_with_little_cpu_on_a_busy_machine_blames_the_machine():
    assert lag_cause(43.0, 0.032, _machine(0.6)) == "machine"


def test_steal_alone_makes_the_machine_busy():
    assert lag_cause(43.0, 0.032, _machine(0.0, steal_max=0.3)) == "machine"


def test_a_generator_using_its_whole_core_is_saturated_even_on_a_busy_machine():
    assert lag_cause(43.0, 0.95, _machine(0.6)) == "generator"
    assert lag_cause(2.0, 0.95, _machine(0.0)) == "generator"


def test_a_lag_on_a_quiet_machine_or_without_a_machine_record_stays_the_generators():
    assert lag_cause(43.0, 0.032, _machine(BUSY_OTHER_PROCESSES_SHARE / 2)) == "generator"
    assert lag_cause(43.0, 0.032, None) == "generator"


@pytest.fixture
def run(tmp_path):
    return build_run(tmp_path)


def _resummarise(run, *, other_share: float, lag_s: float, cpu_share: float) -> Summary:
    folder = run / "synthetic"
    for design in ("sync", "async"):
        write_machine_record(
            folder / design, T0[design], int(DURATION), run_share=0.3, other_share=other_share
        )
        make_generator_lag(folder / design, lag_s, cpu_share)
    return write_summary(folder)


def test_a_busy_machine_invalidates_a_lagging_run_and_says_so_not_saturated(run):
    summary = _resummarise(run, other_share=0.5, lag_s=0.043, cpu_share=0.032)
    assert not summary.valid
    sync = summary.designs["sync"]
    assert sync.machine is not None and sync.machine.busy
    assert sync.machine.other_processes_share.mean == pytest.approx(0.5)
    assert not sync.generator.saturated
    reason = next(r for r in summary.invalid_reasons if r.startswith("sync:"))
    assert "the machine was busy: other processes used 50.0 % of the CPU" in reason
    assert "its own CPU at only 3.2 % of a core" in reason
    assert "saturated" not in reason


def test_a_saturated_generator_is_named_with_its_own_cpu(run):
    summary = _resummarise(run, other_share=0.01, lag_s=0.043, cpu_share=0.95)
    assert not summary.valid
    assert summary.designs["sync"].generator.saturated
    reason = next(r for r in summary.invalid_reasons if r.startswith("sync:"))
    assert "the load generator was saturated (its own CPU 95.0 % of a core" in reason
    assert "the machine was not busy: other processes used 1.0 % of the CPU" in reason


def test_a_lag_that_neither_its_own_cpu_nor_others_explain_says_only_what_was_seen(run):
    summary = _resummarise(run, other_share=0.01, lag_s=0.043, cpu_share=0.032)
    assert not summary.valid
    reason = next(r for r in summary.invalid_reasons if r.startswith("sync:"))
    assert "the load generator fell behind its schedule (scheduler lag p99 43 ms" in reason
    assert "its own CPU 3.2 % of a core" in reason
    assert "the machine was not busy: other processes used 1.0 % of the CPU" in reason
    assert "saturated" not in reason


def test_a_busy_machine_under_a_punctual_generator_is_a_warning_not_a_reason(run):
    summary = _resummarise(run, other_share=0.5, lag_s=0.0, cpu_share=0.05)
    assert summary.valid, summary.invalid_reasons
    assert any(
        w.startswith("sync: the machine was busy: other processes used 50.0 %")
        for w in summary.warnings
    )


def test_a_clean_run_records_its_machine_without_reasons_or_warnings(run):
    summary = _resummarise(run, other_share=0.02, lag_s=0.0, cpu_share=0.05)
    assert summary.valid
    assert not any("machine" in w for w in summary.warnings)
    figures = summary.figures()["designs"]["async"]["machine"]
    assert figures["other_processes_share"]["max"] == pytest.approx(0.02)
    assert figures["busy"] is False


def test_the_report_shows_each_designs_machine_figures_and_names_the_busy_one(run):
    _resummarise(run, other_share=0.5, lag_s=0.043, cpu_share=0.032)
    analysis = analyse_scenario(run / "synthetic")
    blocks = machine_blocks(analysis)
    table = next(b for b in blocks if isinstance(b, Table))
    rows = {row[0]: row for row in table.rows}
    assert set(rows) == {"sync", "async"}
    # other processes: mean (busiest second); the machine: busy
    assert rows["sync"][table.header.index("other processes")] == "50.0% (50.0%)"
    assert rows["sync"][-1] == "**BUSY**"
    text = render_markdown(blocks, run / "synthetic" / "report.md")
    assert "other processes" in text


def test_the_report_of_a_run_without_machine_records_has_no_machine_section(run):
    assert machine_blocks(analyse_scenario(run / "synthetic")) == []


def test_run_cpu_credited_a_second_late_is_not_another_process():
    """A worker watched from the tick after it started: the machine counts its first half
    core in second 3, the run's counters in second 4 (raw "other" +0.5 then -0.5). Every
    drain-rate run on a quiet machine was flagged busy for this."""
    frame = _frame([(0, 0, 0, 0), (1, 1, 1, 0), (2, 2, 2, 0), (3, 3.5, 3, 0), (4, 4.5, 4.5, 0)])
    load = machine_load(frame, 0, 4)
    assert load is not None
    assert load.other_processes_share.max == pytest.approx(0.0)
    assert not load.busy


def test_another_process_is_counted_in_full_beside_a_late_credit():
    # half a core of another process in seconds 2-4; in second 4 the run's counters also catch
    # up on a quarter core they credited late (used in second 3)
    frame = _frame([(0, 0, 0, 0), (1, 1, 1, 0), (2, 2.5, 2, 0), (3, 4.25, 3, 0), (4, 5.75, 4.5, 0)])
    load = machine_load(frame, 0, 4)
    assert load is not None
    # cumulative raw "other": 0, 0, 0.5, 1.25, 1.25 — the other process's 0.5 a second stays
    # (the late quarter core is not told apart from it when they overlap: at most over-counted)
    assert load.other_processes_share.max == pytest.approx(0.75 / 2)
    assert load.other_processes_share.mean == pytest.approx(1.25 / 8, abs=1e-4)  # rounded
    assert load.busy
