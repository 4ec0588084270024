"""Sweep files: the shipped one loads (and its quick form); a malformed one is refused before
anything starts, naming the file, the field and what was expected (exit 2)."""

from __future__ import annotations

import pytest

from offload.cli import main
from offload.errors import ScenarioError
from offload.run.load_workers import auto_load_workers, parse_load_workers
from offload.sweep.files import DEFAULT_SWEEP, load_sweep
from offload.sweep.model import cell_name

VALID = """
name: mine
designs: [sync, async]
rates: [10/s, 40/s]
provider_latencies: [10ms, 1s]
cell: {duration: 4s}
slo: {p99: 200ms, errors: 0.1%}
search: {max_rate: 160/s}
"""


def _write(tmp_path, text):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def test_the_shipped_sweep_and_its_quick_form_load():
    sweep = load_sweep(DEFAULT_SWEEP)
    assert sweep.design_names == ["sync", "async"]
    assert sweep.rates == [10, 40, 160, 640]
    assert sweep.provider_latencies == [0.01, 0.1, 1.0]
    assert sweep.slo.p99 == 0.2 and sweep.slo.errors == pytest.approx(0.001)
    quick = sweep.quickened()
    assert len(quick.rates) * len(quick.provider_latencies) < len(sweep.rates) * len(
        sweep.provider_latencies
    )
    assert quick.cell.duration < sweep.cell.duration
    assert quick.slo == sweep.slo  # the quick form keeps what it does not set


@pytest.mark.parametrize(
    "path", sorted(DEFAULT_SWEEP.parent.glob("*.yaml")), ids=lambda path: path.stem
)
def test_every_shipped_sweep_builds_valid_cells_in_both_forms(path):
    """A shipped sweep that only fails once `make sweep` reaches a cell would cost its user
    minutes: every cell of every shipped file (and of its quick form) must be a scenario the
    bench accepts."""
    for sweep in (load_sweep(path), load_sweep(path).quickened()):
        cells = [
            sweep.cell_scenario(design, rate, latency)
            for design in sweep.design_names
            for rate in sweep.rates
            for latency in sweep.provider_latencies
        ]
        assert len(cells) == (
            len(sweep.design_names) * len(sweep.rates) * len(sweep.provider_latencies)
        )
        assert {cell.provider.latency for cell in cells} == set(sweep.provider_latencies)


def test_a_cell_is_a_scenario_of_one_design_at_one_rate_and_latency(tmp_path):
    sweep = load_sweep(_write(tmp_path, VALID))
    scenario = sweep.cell_scenario("async", 40.0, 1.0)
    assert scenario.name == "async-40rps-1s" == cell_name("async", 40.0, 1.0)
    assert scenario.targets == ["async"]
    assert scenario.load.rate == 40 and scenario.load.duration == 4
    assert scenario.load.bystander_rate == 0 and scenario.faults == []
    assert scenario.provider.latency == 1.0 and scenario.provider.jitter == 0
    assert cell_name("sync", 12.5, 0.0005) == "sync-12p5rps-0p5ms"
    assert scenario.load.broker_probe_rate == 0  # no probe unless the sweep file asks


def test_the_probe_beside_the_load_reaches_every_cell_when_the_sweep_file_asks(tmp_path):
    sweep = load_sweep(
        _write(
            tmp_path,
            VALID.replace("cell: {duration: 4s}", "cell: {duration: 4s, broker_probe_rate: 20/s}"),
        )
    )
    assert sweep.cell_scenario("async", 40.0, 1.0).load.broker_probe_rate == 20


REFUSED = {
    "missing slo": (VALID.replace("slo: {p99: 200ms, errors: 0.1%}\n", ""), "field 'slo'"),
    "bad share": (
        VALID.replace("errors: 0.1%", "errors: some"),
        "field 'slo.errors': expected a share such as 10% or 0.1, got 'some'",
    ),
    "rates not increasing": (
        VALID.replace("[10/s, 40/s]", "[40/s, 10/s]"),
        "field 'rates': item 1 (10/s) must be higher than the one before (40/s)",
    ),
    "bad rate": (
        VALID.replace("[10/s, 40/s]", "[10/s, lots]"),
        "field 'rates[1]': expected a rate such as 40/s or 600/min, got 'lots'",
    ),
    "duplicate latency": (
        VALID.replace("[10ms, 1s]", "[1s, 1000ms]"),
        "field 'provider_latencies': each latency once",
    ),
    "misspelt field": (VALID + "cel: {duration: 3s}\n", "field 'cel': unknown field"),
    "search beyond the grid": (
        VALID.replace("max_rate: 160/s", "max_rate: 20/s"),
        "search.max_rate (20/s) is below the highest rate (40/s)",
    ),
    "search latency not in the grid": (
        VALID.replace("max_rate: 160/s", "max_rate: 160/s, latencies: [50ms]"),
        "search.latencies[0] (50ms) is not one of provider_latencies (10ms, 1s)",
    ),
    "knob a design would refuse": (
        VALID + "knobs: {workers: -1}\n",
        "field 'knobs.workers': Input should be greater than or equal to 0",
    ),
    "zero duration": (
        VALID.replace("duration: 4s", "duration: 0s"),
        "field 'cell.duration': Input should be greater than 0",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_malformed_sweep_is_refused_naming_file_field_and_expectation(tmp_path, case):
    text, expected = REFUSED[case]
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message, message


def test_the_command_refuses_a_malformed_sweep_with_exit_2_before_anything_starts(tmp_path, capsys):
    path = _write(tmp_path, VALID.replace("[10/s, 40/s]", "[40/s, 10/s]"))
    reports = tmp_path / "reports"
    assert main(["sweep", str(path), "--reports-dir", str(reports)]) == 2
    assert "field 'rates'" in capsys.readouterr().err
    assert not reports.exists()  # nothing started: no run directory


def test_a_missing_sweep_file_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the sweep file"):
        load_sweep(tmp_path / "nope.yaml")


def test_load_workers_auto_follows_the_peak_rate(tmp_path):
    sweep = load_sweep(_write(tmp_path, VALID))
    assert auto_load_workers(sweep.cell_scenario("sync", 40.0, 0.01)) == 1
    assert auto_load_workers(sweep.cell_scenario("sync", 1000.0, 0.01)) == 1
    assert auto_load_workers(sweep.cell_scenario("sync", 1001.0, 0.01)) == 2
    assert auto_load_workers(sweep.cell_scenario("sync", 2500.0, 0.01)) == 3
    assert parse_load_workers("auto") == "auto" and parse_load_workers("3") == 3
    with pytest.raises(Exception, match="at least 1"):
        parse_load_workers("0")


def test_a_fixed_generator_count_too_small_for_the_search_is_refused_before_anything_starts(
    tmp_path, capsys
):
    path = _write(tmp_path, VALID.replace("max_rate: 160/s", "max_rate: 2500/s"))
    reports = tmp_path / "reports"
    code = main(["sweep", str(path), "--load-workers", "1", "--reports-dir", str(reports)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{path}: field 'search.max_rate'" in err and "--load-workers 3" in err
    assert not reports.exists()
