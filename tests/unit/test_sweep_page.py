"""The sweep's page from a summary (no servers): an invalid cell is in the red banner and on
the page as invalid, never as a winner; the page renders whatever is missing."""

from __future__ import annotations

import time

from offload.rundir.run_info import RunStatus
from offload.sweep.analysis import crossover, crossovers, knee
from offload.sweep.page import write_page
from offload.sweep.rundir import MaxRate, SweepRecord, SweepSummary
from tests.unit.test_sweep_crossover import cell

DESIGNS = ["sync", "async"]


def _summary(cells):
    return SweepSummary(
        sweep="t",
        quick=True,
        slo_p99_ms=200,
        slo_errors=0.001,
        designs=DESIGNS,
        rates=[10, 160],
        latencies_s=[0.1],
        cells=cells,
        knees={d: {"100ms": knee(cells, d, 0.1)} for d in DESIGNS},
        max_rates=[
            MaxRate(
                design="sync",
                latency_s=0.1,
                rate=None,
                rate_folder=None,
                bound=10,
                bound_folder="sync-10rps",
                bound_verdict="misses",
                stopped_by="lowest_rate",
                runs=0,
            )
        ],
        crossover=[crossover(cells, DESIGNS, r, 0.1) for r in (10, 160)],
        broker_confirm_p99_ms=2.5,
        wall_s=90.0,
    )


def sweep_record(status: RunStatus = "complete") -> SweepRecord:
    """A sweep's record as the page needs it: only its status matters here."""
    return SweepRecord(
        sweep_file="t.yaml",
        sweep={},
        quick=True,
        load_workers="auto",
        status=status,
        started_at=time.time(),
    )


def test_an_invalid_cell_is_in_the_banner_and_never_wins(tmp_path):
    cells = [
        cell("sync", rate=10, verdict="misses", signups=80),
        cell("async", rate=10, e2e=120, signups=80),
        cell("sync", rate=160, valid=False),
        cell("async", rate=160, e2e=130),
    ]
    summary = _summary(cells)
    record = sweep_record("complete")
    md, html = write_page(tmp_path, summary, record)
    text = md.read_text()
    assert "[!CAUTION]" in text and "1 invalid cell: not the system's figures" in text
    assert "sync-160rps" in text.split("## Maximum")[0]  # named in the banner
    row = next(line for line in text.splitlines() if line.startswith("| 100ms | 160/s"))
    assert "| invalid | p99 | invalid: sync | invalid |" in row  # judged on neither figure
    assert "none (the lowest rate missed)" in text
    assert (tmp_path / "charts" / "curves.png").stat().st_size > 1000
    assert "data:image/png;base64," in html.read_text()


def test_the_page_renders_with_no_cells_at_all(tmp_path):
    summary = _summary([])
    record = sweep_record("interrupted")
    md, _ = write_page(tmp_path, summary, record)
    assert "the sweep did not complete: interrupted" in md.read_text()


def test_a_sweep_of_one_design_has_no_crossover_rather_than_a_map_of_invalid_cells(tmp_path):
    cells = [cell("async", rate=10, e2e=120), cell("async", rate=160, e2e=130)]
    summary = _summary(cells).model_copy(
        update={
            "designs": ["async"],
            "knees": {"async": {"100ms": knee(cells, "async", 0.1)}},
            "crossover": crossovers(cells, ["async"], [10, 160], [0.1]),
        }
    )
    record = sweep_record("complete")
    md, _ = write_page(tmp_path, summary, record)
    text = md.read_text()
    crossover_section = text.split("## Crossover map")[1].split("## Every cell")[0]
    assert "One design in this sweep (async)" in crossover_section
    assert "invalid" not in crossover_section  # both cells were valid
    assert not (tmp_path / "charts" / "crossover.png").exists()
    # two designs still get their map
    assert len(crossovers(cells, DESIGNS, [10, 160], [0.1])) == 2


def test_analysing_again_as_one_design_removes_the_earlier_crossover_map(tmp_path):
    """`offload sweep --analyse` rewrites the page in the same directory: a map drawn by an
    earlier analysis must not stay beside a page that says there is none."""
    both = [cell(d, rate=r, e2e=120) for d in DESIGNS for r in (10, 160)]
    write_page(tmp_path, _summary(both), sweep_record("complete"))
    assert (tmp_path / "charts" / "crossover.png").exists()

    one = [c for c in both if c.design == "async"]
    again = _summary(one).model_copy(
        update={
            "designs": ["async"],
            "knees": {"async": {"100ms": knee(one, "async", 0.1)}},
            "crossover": crossovers(one, ["async"], [10, 160], [0.1]),
        }
    )
    write_page(tmp_path, again, sweep_record("complete"))

    assert not list((tmp_path / "charts").glob("crossover.*"))
    assert (tmp_path / "charts" / "curves.png").exists()


def test_a_cell_beyond_the_machine_is_a_finding_but_a_starved_generator_fails_the_sweep():
    """``make sweep``'s search stops where the design fills the machine: that cell is drawn
    invalid, but the sweep measured what it looked for and exits 0. A generator that fell
    behind for another reason means a figure is missing: exit 1."""
    from offload.sweep.page import unmeasured

    beyond = cell("async", rate=1280, valid=False).model_copy(
        update={"lag_cause": "design", "invalid_reasons": ["async: the design saturated ..."]}
    )
    starved = beyond.model_copy(update={"lag_cause": "machine"})
    also_broken = beyond.model_copy(
        update={"invalid_reasons": [*beyond.invalid_reasons, "async: the database ..."]}
    )
    assert not unmeasured(beyond)
    assert unmeasured(starved)
    assert unmeasured(also_broken)
    assert not unmeasured(cell("async"))


def test_a_cell_with_the_probe_beside_its_load_shows_its_confirm_and_draws_it(tmp_path):
    """``cell.broker_probe_rate``: each async cell carries the bare confirm p99 measured
    beside its own load; the page prints it beside the cell's p99 and the chart draws it."""
    cells = [cell("sync", rate=10), cell("async", rate=10), cell("async", rate=160)]
    cells[1].broker_confirm_p99_ms = 2.2
    cells[2].broker_confirm_p99_ms = 6.9
    md, _ = write_page(tmp_path, _summary(cells), sweep_record())
    text = md.read_text()
    assert "(bare confirm beside: 2.2 ms)" in text and "(bare confirm beside: 6.9 ms)" in text
    assert text.count("bare confirm beside") == 2  # the sync cell has no broker
    assert (tmp_path / "charts" / "curves.png").stat().st_size > 0
