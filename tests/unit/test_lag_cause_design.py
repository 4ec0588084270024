"""A generator that fell behind is blamed on who took the CPU: its own loop, other processes,
or the design under test filling the machine — and in every case the run stays invalid; only
the reason gets precise, on the bench report's banner and the sweep page alike."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from offload.analysis.machine import machine_load
from offload.analysis.noise import lag_cause
from offload.analysis.summary import write_summary
from offload.report.sections import invalid_banner
from offload.rundir.summary import MachineLoad, Summary
from offload.sweep.analysis import judge
from offload.sweep.model import Slo
from offload.sweep.page import write_page
from tests.factories.records import (
    DURATION,
    T0,
    build_run,
    make_generator_lag,
    write_machine_record,
)
from tests.unit.test_sweep_crossover import cell
from tests.unit.test_sweep_page import _summary, sweep_record


def _machine_frame(busy_per_s: float, run_per_s: float, seconds: int = 4) -> pd.DataFrame:
    """A 2-core machine busy ``busy_per_s`` core-seconds a second, the run ``run_per_s``."""
    return pd.DataFrame(
        [
            {"t": 100.0 + s, "cores": 2, "total_s": 2.0 * s, "busy_s": busy_per_s * s,
             "steal_s": 0.0, "iowait_s": 0.0, "run_cpu_s": run_per_s * s}
            for s in range(seconds + 1)
        ]
    )  # fmt: skip


def _samples(per_component: dict[str, float], seconds: int = 4) -> pd.DataFrame:
    """samples.csv rows: each component's cumulative CPU, ``per_component`` core-s a second."""
    return pd.DataFrame(
        [
            {"t": 100.0 + s, "component": name, "role": "x", "processes": 1,
             "cpu_s": rate * s, "rss_bytes": 1}
            for s in range(seconds + 1)
            for name, rate in per_component.items()
        ]
    )  # fmt: skip


def _load(busy: float, run: float, components: dict[str, float]) -> MachineLoad:
    load = machine_load(_machine_frame(busy, run), 100, 104, _samples(components))
    assert load is not None
    return load


def test_the_designs_share_leaves_out_the_rig_and_fills_a_full_machine():
    # 2 cores, 1.96 busy: api + worker + broker 1.4 cores (70 %), provider + generator 0.5
    load = _load(1.96, 1.96, {"api": 0.8, "worker-1": 0.4, "broker": 0.2,
                              "provider": 0.3, "generator": 0.2})  # fmt: skip
    assert load.design_share is not None
    assert load.design_share.mean == pytest.approx(0.7)
    assert load.design_filled and not load.busy
    # the generator lagged with a tenth of a core: the design under test starved it
    assert lag_cause(43.0, 0.1, load) == "design"


def test_a_full_machine_the_design_did_not_fill_leaves_the_lag_with_the_generator():
    # the rig (provider and generator) used most of the full machine, the design 30 %
    load = _load(1.9, 1.9, {"api": 0.6, "provider": 0.7, "generator": 0.6})
    assert not load.design_filled
    assert lag_cause(43.0, 0.5, load) == "generator"


def test_a_design_using_most_of_an_idle_machine_explains_nothing():
    # 60 % of the cores, but the machine was far from full: a core was free for the generator
    load = _load(1.3, 1.3, {"api": 1.2})
    assert load.design_share is not None and load.design_share.max == pytest.approx(0.6)
    assert not load.design_filled
    assert lag_cause(43.0, 0.1, load) == "generator"


def test_other_processes_and_a_full_generator_core_keep_their_causes():
    # others used half a core and the design filled the rest: the busy machine is named
    busy = _load(2.0, 1.5, {"api": 1.2})
    assert busy.busy and busy.design_filled
    assert lag_cause(43.0, 0.1, busy) == "machine"
    # a generator at its full core is its own loop's doing, whoever else was busy
    assert lag_cause(43.0, 0.95, _load(1.96, 1.96, {"api": 1.4})) == "generator"


def test_without_samples_there_is_no_design_share_and_no_design_cause():
    load = machine_load(_machine_frame(1.96, 1.96), 100, 104)
    assert load is not None and load.design_share is None and not load.design_filled
    assert lag_cause(43.0, 0.1, load) == "generator"


def _starved_by_design(run, design: str) -> Summary:
    """The design's own processes use 70 % of a full 2-core machine; its generator, at 3.2 %
    of a core, fell 43 ms behind."""
    folder = run / "synthetic" / design
    write_machine_record(folder, T0[design], int(DURATION), run_share=0.97, other_share=0.01)
    with (folder / "samples.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t", "component", "role", "processes", "cpu_s", "rss_bytes"])
        for second in range(int(DURATION) + 1):
            t = T0[design] + second
            writer.writerow([t, f"{design}-api", "server", 4, 1.4 * second, 2**20])
            writer.writerow([t, "generator", "generator", 1, 0.064 * second, 2**20])
            writer.writerow([t, "provider", "provider", 1, 0.4 * second, 2**20])
    make_generator_lag(folder, 0.043, 0.032)
    return write_summary(run / "synthetic")


def test_a_generator_starved_by_the_design_invalidates_the_run_naming_the_design(tmp_path):
    run = build_run(tmp_path)
    summary = _starved_by_design(run, "sync")
    assert not summary.valid  # never judged: the offered load was not what was asked
    sync = summary.designs["sync"]
    assert sync.generator.lag_cause == "design" and not sync.generator.saturated
    assert sync.machine is not None and sync.machine.design_filled and not sync.machine.busy
    reason = next(r for r in summary.invalid_reasons if r.startswith("sync:"))
    assert reason.startswith("sync: the design saturated the machine at this rate")
    assert "its own processes used 70.0 % of the CPU of 2 cores" in reason
    assert "its own CPU at only 3.2 % of a core" in reason
    assert "scheduler lag p99 43 ms" in reason
    # the bench report's red banner carries the reason as it is
    banner = invalid_banner(summary)[0]
    assert any("the design saturated the machine" in note for note in banner.items)


def test_the_sweep_says_who_took_the_cpu_on_the_cell_and_the_page(tmp_path):
    run = build_run(tmp_path)
    summary = _starved_by_design(run, "sync")
    verdict, reason, _ = judge(summary.designs["sync"], summary.valid, Slo(p99=0.2, errors=0.001))
    assert verdict == "invalid"
    assert reason.startswith("the design saturated the machine")

    starved = cell("sync", rate=160, valid=False).model_copy(
        update={
            "lag_cause": "design",
            "invalid_reasons": ["sync: the design saturated the machine at this rate: ..."],
        }
    )
    cells = [cell("sync", rate=10), cell("async", rate=10), starved, cell("async", rate=160)]
    record = sweep_record("complete")
    md, _html = write_page(tmp_path / "page", _summary(cells), record)
    text = md.read_text()
    banner = text.split("## Maximum")[0]
    assert "sync-160rps (the design saturated the machine): sync: the design saturated" in banner
    row = next(line for line in text.splitlines() if line.startswith("| [sync-160rps]"))
    assert "fell behind: the design saturated the machine" in row
