"""The API-crash fault and scenario sets: what a scenario or set file may say, and what is
refused before anything starts (file, field, expectation; exit code 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offload.cli import main
from offload.errors import ScenarioError
from offload.run.orchestrator import NO_BROKER, BenchPlan, prepare
from offload.scenario import (
    SCENARIOS_DIR,
    SETS_DIR,
    FaultEvent,
    load_scenario,
    load_set,
    set_path,
    set_scenario_files,
)
from offload.target.manifest import resolve_target

TARGETS_DIR = Path(__file__).resolve().parents[2] / "targets"

API_CRASH = """
name: crash
targets: [sync, async]
load: {rate: 10/s, duration: 30s}
designs: {server_processes: 4}
faults:
  - {at: 10s, api: {kill: %s}}
"""


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_api_fault_names_its_phase_and_says_what_it_does():
    fault = FaultEvent.model_validate({"at": "15s", "api": {"kill": 2, "restart_after": "5s"}})
    assert fault.api is not None and fault.api.kill == 2 and fault.api.restart_after == 5.0
    assert fault.default_phase_name(None) == "api-crash"  # type: ignore[arg-type]
    assert "2 API process(es) killed, restarted after 5s" in fault.api.describe()


def test_a_fault_without_an_api_field_records_as_before():
    """Stored scenarios (the gate's identity of an experiment) must not gain ``api: null``."""
    plain = FaultEvent.model_validate({"at": 1, "broker": "down"}).model_dump(mode="json")
    assert "api" not in plain
    crash = FaultEvent.model_validate({"at": 1, "api": {"kill": 1}}).model_dump(mode="json")
    assert crash["api"] == {"kill": 1, "restart_after": None}


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        ("{kill: 0}", "field 'faults[0].api.kill': Input should be greater than or equal to 1"),
        ("{restart_after: 5s}", "field 'faults[0].api.kill': field required"),
        ("{kill: 1, restart_after: -1s}", "field 'faults[0].api.restart_after'"),
        ("{kill: 1, restat_after: 1s}", "field 'faults[0].api.restat_after': unknown field"),
    ],
)
def test_a_malformed_api_fault_is_refused_at_load(tmp_path, capsys, api, expected):
    path = _write(tmp_path, API_CRASH % "1").parent / "bad.yaml"
    path.write_text(
        f"name: x\nload: {{rate: 1/s, duration: 30s}}\nfaults: [{{at: 1s, api: {api}}}]\n"
    )
    code = main(["bench", "--scenario", str(path), "--reports-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{path}: {expected}" in err
    assert not (tmp_path / "r").exists()


def test_killing_more_api_processes_than_a_design_runs_is_refused_before_anything_starts(
    tmp_path, capsys
):
    path = _write(tmp_path, API_CRASH % "5")
    code = main(["bench", "--scenario", str(path), "--reports-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        f"{path}: field 'faults[0].api.kill': 5 is more than design sync's 4 server "
        "process(es) (expected at most 4" in err
    )
    assert "design async's 4" in err
    assert not (tmp_path / "r").exists()


def test_the_limit_is_each_designs_own_server_processes(tmp_path):
    text = (API_CRASH % "3").replace(
        "targets: [sync, async]",
        "targets: [sync, {target: async, name: small, designs: {server_processes: 2}}]",
    )
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        prepare(BenchPlan(scenario_files=[path], floor=False))
    assert "design small's 2 server process(es)" in str(caught.value)
    assert "design sync's" not in str(caught.value)  # 3 of sync's 4 is allowed
    prepare(BenchPlan(scenario_files=[_write(tmp_path, API_CRASH % "4", "ok.yaml")]))


def test_the_shipped_api_crash_scenario_kills_half_the_server_processes():
    scenario = load_scenario(SCENARIOS_DIR / "api-crash.yaml")
    (fault,) = scenario.faults
    assert fault.api is not None
    assert fault.api.kill == 2 and scenario.designs.server_processes == 4
    assert [p.name for p in scenario.phases()] == ["healthy", "api-crash", "recovery"]


# -- sets ------------------------------------------------------------------------------------

SET = """
name: mine
scenarios: [slow-downstream, broker-outage]
targets: [sync, async]
time_scale: 0.25
"""


def test_a_set_overrides_the_scenarios_targets_and_shortens_them(tmp_path):
    path = _write(tmp_path, SET, "mine.yaml")
    chosen = load_set(path)
    plan = BenchPlan(
        scenario_files=set_scenario_files(path, chosen),
        scenario_set=chosen,
        set_file=path,
        floor=False,
    )
    slow, broker = prepare(plan)
    assert [d.name for d in slow.designs] == ["sync", "async"]
    assert slow.scenario.load.duration == pytest.approx(60 * 0.25)
    assert slow.skipped == {}
    # a design that uses no broker skips the scenario that breaks the broker, and says why
    assert [d.name for d in broker.designs] == ["async"]
    assert broker.skipped == {"sync": NO_BROKER}


def test_with_quick_each_scenarios_own_time_scale_wins_over_the_sets(tmp_path):
    path = _write(tmp_path, SET, "mine.yaml")
    chosen = load_set(path)
    plan = BenchPlan(
        scenario_files=set_scenario_files(path, chosen),
        scenario_set=chosen,
        set_file=path,
        quick=True,
    )
    slow = prepare(plan)[0]
    own = load_scenario(SCENARIOS_DIR / "slow-downstream.yaml").quick.time_scale
    assert slow.scenario.load.duration == pytest.approx(60 * own)


SET_MALFORMED = {
    "no scenarios": ("name: x\ntargets: [sync]\n", "field 'scenarios': field required"),
    "empty targets": (
        "name: x\nscenarios: [baseline]\ntargets: []\n",
        "field 'targets': List should have at least 1 item",
    ),
    "bad scale": (
        "name: x\nscenarios: [baseline]\ntargets: [sync]\ntime_scale: 2\n",
        "field 'time_scale': Input should be less than or equal to 1",
    ),
    "unknown field": (
        "name: x\nscenarios: [baseline]\ntargets: [sync]\nscale: 1\n",
        "field 'scale': unknown field",
    ),
    "twice the same design": (
        "name: x\nscenarios: [baseline]\ntargets: [sync, sync]\n",
        "field 'targets': design names must be unique",
    ),
    "missing scenario": (
        "name: x\nscenarios: [baseline, no-such]\ntargets: [sync]\n",
        "field 'scenarios[1]': no scenario file",
    ),
    "not a mapping": ("- a\n", "expected a mapping of set fields"),
}


@pytest.mark.parametrize("case", list(SET_MALFORMED))
def test_a_malformed_set_gives_one_clear_message_and_exit_code_2(tmp_path, capsys, case):
    text, expected = SET_MALFORMED[case]
    path = _write(tmp_path, text, "set.yaml")
    code = main(["bench", "--set", str(path), "--reports-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{path}: {expected}" in err
    assert not (tmp_path / "r").exists()


def test_an_unknown_set_name_lists_the_shipped_ones(tmp_path, capsys):
    code = main(["bench", "--set", "nope", "--reports-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "no scenario set named 'nope'" in err and "matrix" in err


def test_set_and_scenario_together_are_refused(tmp_path, capsys):
    code = main(["bench", "--set", "matrix", "-s", "baseline", "--reports-dir", str(tmp_path)])
    assert code == 2
    assert "--set" in capsys.readouterr().out


def test_the_matrix_set_runs_every_design_on_the_four_faults():
    chosen = load_set(set_path("matrix"))
    assert set_path("matrix") == SETS_DIR / "matrix.yaml"
    assert [p.stem for p in set_scenario_files(set_path("matrix"), chosen)] == [
        "slow-downstream",
        "downstream-outage",
        "broker-outage",
        "api-crash",
    ]
    assert chosen.targets == [
        "sync",
        "sync-threads",
        "inline-async",
        "background",
        "outbox",
        "async",
    ]
    assert chosen.time_scale is not None


def test_every_target_of_the_matrix_resolves():
    if not (TARGETS_DIR / "outbox").is_dir():
        pytest.skip("targets/outbox is built on another branch; this passes once it is merged")
    chosen = load_set(set_path("matrix"))
    for target in chosen.targets:
        assert isinstance(target, str)
        resolve_target(target, relative_to=SETS_DIR)


def test_the_run_records_the_set_and_what_it_skipped(tmp_path):
    """run.json and the manifest fields a set fills are declared (a typed model reads them)."""
    from offload.rundir.manifest import ScenarioManifest
    from offload.rundir.run_info import RunInfo

    info = RunInfo(command=[], scenarios=[], started_at=0, status="running")
    info.scenario_set = "matrix"
    info.skipped = {"broker-outage · sync": NO_BROKER}
    assert json.loads(json.dumps(info.to_json()))["skipped"] == {"broker-outage · sync": NO_BROKER}
    assert "skipped_designs" in ScenarioManifest.model_fields


def test_a_shortened_scenario_shortens_the_restart_delays_too():
    scenario = load_scenario(SCENARIOS_DIR / "api-crash.yaml").quickened(0.5)
    (fault,) = scenario.faults
    assert fault.at == 7.5 and fault.api is not None and fault.api.restart_after == 2.5
    assert [(p.name, p.start_s, p.end_s) for p in scenario.phases()][1] == ("api-crash", 7.5, 10)
    worker = load_scenario(SCENARIOS_DIR / "worker-crash.yaml").quickened(0.5).faults[0]
    assert worker.workers is not None and worker.workers.restart_after == 4.0
