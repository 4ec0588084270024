"""The generator's self-measurement file (``requests.generator.json``): what the open loop
writes is what the analysis reads, a field that does not apply stays absent, and a damaged
file is refused naming the file and the field."""

from __future__ import annotations

import json

import pytest

from loadtests.selfmeasure import GeneratorMeter, SelfMeasurement, generator_report_path
from offload.analysis.records import generator
from offload.errors import RunInvalid


def test_what_the_open_loop_writes_the_analysis_reads(tmp_path):
    meter = GeneratorMeter()
    meter.scheduled = 3
    for lateness in (0.001, 0.002, 0.003):
        meter.started(lateness, waited_for_slot=False, in_flight=1, measured=True)
    meter.completed = 3
    report = meter.write(
        generator_report_path(tmp_path / "requests.csv"),
        duration_s=1.0,
        stopped_early=False,
        in_flight_at_stop=0,
    )
    read = SelfMeasurement.read(tmp_path / "requests.generator.json")
    assert read == report
    assert read.sent == 3 and read.scheduler_lag_measured is not None
    assert read.scheduler_lag_measured.p99_ms == pytest.approx(3.0, abs=0.05)
    combined = generator(tmp_path)
    assert combined.processes == 1
    assert combined.cpu_seconds == read.cpu_seconds


def test_figures_of_the_open_loop_are_absent_from_a_closed_loop_file(tmp_path):
    path = tmp_path / "requests.generator.json"
    SelfMeasurement(
        mode="closed", cpu_seconds=1.0, wall_seconds=10.0, scheduled=5, sent=5, dropped=0
    ).write(path)
    written = json.loads(path.read_text())
    assert written["mode"] == "closed"
    assert "scheduler_lag" not in written and "in_flight_at_stop" not in written


def test_a_damaged_self_measurement_is_refused_naming_the_file_and_the_field(tmp_path):
    path = tmp_path / "requests.w1.generator.json"
    path.write_text(json.dumps({"cpu_seconds": "lots", "wall_seconds": 1}))
    with pytest.raises(RunInvalid, match=r"requests\.w1\.generator\.json.*'cpu_seconds'"):
        generator(tmp_path)
