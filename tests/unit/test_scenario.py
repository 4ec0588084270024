"""Scenario files: every shipped one loads; every malformed one gets one clear message, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from offload.cli import main
from offload.errors import ScenarioError
from offload.run.loadplan import build_plan
from offload.scenario import load_scenario, shipped_scenarios

VALID = """
name: demo
load: {rate: 20/s, duration: 60s, bystander_rate: 5/s}
provider: {latency: 50ms}
faults:
  - {at: 10s, downstream: {latency: 2s, jitter: 200ms}}
  - {at: 20s, downstream: {error_rate: 0.3}}
  - {at: 30s, downstream: timeout}
  - {at: 40s, downstream: healthy}
"""

MALFORMED = {
    "not YAML": ("name: x\nload: {rate: 1/s", "not valid YAML at line"),
    "not a mapping": ("- a\n- b\n", "expected a mapping of scenario fields"),
    "missing load": ("name: x\n", "field 'load': field required"),
    "bad rate": (
        "name: x\nload: {rate: fast, duration: 10s}\n",
        "field 'load.rate': expected a rate such as 40/s or 600/min, got 'fast'",
    ),
    "bad duration": (
        "name: x\nload: {rate: 1/s, duration: soon}\n",
        "field 'load.duration': expected a duration such as 30s, 500ms or 2m, got 'soon'",
    ),
    "negative rate": ("name: x\nload: {rate: -5, duration: 10s}\n", "field 'load.rate'"),
    "misspelt field": (
        "name: x\nload: {rate: 1/s, duration: 10s}\nfaults: [{at: 1s, downstream: {latncy: 1s}}]\n",
        "field 'faults[0].downstream.latncy': unknown field",
    ),
    "unknown shorthand": (
        "name: x\nload: {rate: 1/s, duration: 10s}\nfaults: [{at: 1s, downstream: broken}]\n",
        "expected one of healthy, outage, timeout, reset or a mapping",
    ),
    "fault after the end": (
        "name: x\nload: {rate: 1/s, duration: 10s}\nfaults: [{at: 12s, downstream: outage}]\n",
        "field 'faults': item 0: at (12s) is not inside the load's duration (10s)",
    ),
    "faults out of order": (
        "name: x\nload: {rate: 1/s, duration: 10s}\n"
        "faults: [{at: 5s, downstream: outage}, {at: 2s, downstream: healthy}]\n",
        "item 1: at (2s) must be later than the one before",
    ),
    "error rate above 1": (
        "name: x\nload: {rate: 1/s, duration: 10s}\n"
        "faults: [{at: 1s, downstream: {error_rate: 3}}]\n",
        "field 'faults[0].downstream.error_rate'",
    ),
    "bad name": (
        "name: Slow Down\nload: {rate: 1/s, duration: 10s}\n",
        "field 'name': must be lowercase",
    ),
    "closed loop without users": (
        "name: x\nload: {mode: closed, rate: 1/s, duration: 10s}\n",
        "mode: closed needs users",
    ),
    "misspelt expect path": (
        "name: x\nload: {rate: 1/s, duration: 10s}\n"
        "expect: [async.emails.lost == 0, async.signup.overal.latency_ms.p95 < 100]\n",
        "field 'expect[1]': unknown path",
    ),
    "unknown gated metric": (
        "name: x\nload: {rate: 1/s, duration: 10s}\ngate: {tolerances: {sync.signup.p42: 10%}}\n",
        "field 'gate.tolerances': 'sync.signup.p42' is not <design>.<gated metric>",
    ),
    "tolerance not a share": (
        "name: x\nload: {rate: 1/s, duration: 10s}\ngate: {tolerances: {sync.signup.p50: lots}}\n",
        "expected a share such as 10% or 0.1, got 'lots'",
    ),
    "gate tolerance of a design not run": (
        "name: x\ntargets: [async]\nload: {rate: 1/s, duration: 10s}\n"
        "gate: {tolerances: {sync.signup.p50: 10%}}\n",
        "field 'gate.tolerances': no design named sync in this scenario (expected one of: async)",
    ),
    "broker probe beyond one publisher": (
        "name: x\nload: {rate: 1/s, duration: 10s, broker_probe_rate: 500/s}\n",
        "field 'load.broker_probe_rate'",
    ),
    "broker probe beside a broker fault": (
        "name: x\nload: {rate: 1/s, duration: 10s, broker_probe_rate: 20/s}\n"
        "faults: [{at: 2s, broker: down}]\n",
        "field 'faults': item 0: broker down cannot run beside load.broker_probe_rate",
    ),
    "reserved phase name": (
        "name: x\nload: {rate: 1/s, duration: 10s}\n"
        "faults: [{at: 1s, phase: overall, downstream: outage}]\n",
        "reserved",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_scenario_gives_one_clear_message_and_exit_code_2(tmp_path, capsys, case):
    text, expected = MALFORMED[case]
    path = tmp_path / "broken.yaml"
    path.write_text(text)

    code = main(["bench", "--scenario", str(path), "--reports-dir", str(tmp_path / "r")])

    err = capsys.readouterr().err
    assert code == 2
    assert str(path) in err
    assert expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing started, nothing written


TYPO = "async.signup.overal.latency_ms.p95 < 100"


def _scenario_expecting(tmp_path, *expect: str):
    path = tmp_path / "expects.yaml"
    lines = "".join(f"  - {text}\n" for text in expect)
    path.write_text(
        "name: x\nload: {rate: 1/s, duration: 10s}\n"
        "faults: [{at: 5s, phase: slow, downstream: {latency: 1s}}]\n"
        f"expect:\n{lines}"
    )
    return path


def test_a_misspelt_expect_path_is_refused_at_load_with_the_nearest_valid_one(tmp_path):
    path = _scenario_expecting(tmp_path, "async.emails.lost == 0", TYPO)

    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: field 'expect[1]': unknown path ")
    assert "'async.signup.overal.latency_ms.p95'" in message
    assert "nearest valid paths: async.signup.p95" in message  # the figure meant
    assert "expected a figure of summary.json" in message


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("asynk.emails.lost == 0", "did you mean async"),
        ("async.signup[slwo].p95 < 100", "async.signup[slow].p95"),
        ("async.emails.lots == 0", "async.emails.lost"),
        ("async.signup.latency_ms < 100", "names a group of figures"),
    ],
)
def test_other_paths_that_name_no_figure_are_refused_at_load(tmp_path, written, hint):
    with pytest.raises(ScenarioError, match="field 'expect\\[0\\]'") as caught:
        load_scenario(_scenario_expecting(tmp_path, written))
    assert hint in str(caught.value)


def test_correct_paths_in_every_spelling_load(tmp_path):
    scenario = load_scenario(
        _scenario_expecting(
            tmp_path,
            "async.signup.overall.latency_ms.p95 < 100",
            "designs.async.signup.overall.latency_ms.p95 < 100",
            "async.signup.p95 < 0.1 * sync.signup.p95",
            "sync.bystander[slow].p95 > async.bystander[healthy].p95",
            "async.emails.lost == 0 and async.queue.drained == 1",
            "async.resources.server.cpu_s < 100",
            "async.signup.latency_ms.ci.p95.high < 100",
        )
    )
    assert len(scenario.expect) == 7


def test_missing_scenario_file_is_a_clear_error(tmp_path, capsys):
    assert main(["bench", "--scenario", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read the scenario file" in capsys.readouterr().err


def test_unknown_scenario_name_lists_the_shipped_ones(capsys):
    assert main(["bench", "--scenario", "no-such-scenario"]) == 2
    err = capsys.readouterr().err
    assert "slow-downstream" in err and "baseline" in err


def test_every_shipped_scenario_loads_and_the_default_set_is_complete():
    names = {load_scenario(p).name for p in shipped_scenarios()}
    assert {
        "baseline",
        "slow-downstream",
        "failing-downstream",
        "downstream-outage",
        "traffic-spike",
    } <= names
    default = {load_scenario(p).name for p in shipped_scenarios("default")}
    assert {
        "baseline",
        "slow-downstream",
        "failing-downstream",
        "downstream-outage",
        "traffic-spike",
    } <= default


def test_phases_follow_the_fault_timeline(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(VALID)
    scenario = load_scenario(path)

    phases = [(p.name, p.start_s, p.end_s, p.provider) for p in scenario.phases()]

    assert phases == [
        ("healthy", 0, 10, "latency 50ms"),
        ("slow", 10, 20, "latency 2s ±200ms"),
        ("errors", 20, 30, "latency 50ms, 30% 503"),
        ("timeouts", 30, 40, "never answers"),
        ("recovery", 40, 60, "latency 50ms"),
    ]


def test_healthy_returns_the_provider_to_the_scenarios_baseline(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(VALID)
    scenario = load_scenario(path)
    assert scenario.faults[-1].profile(scenario.provider) == scenario.provider
    assert scenario.faults[0].profile(scenario.provider).latency == 2.0


def test_quick_mode_scales_times_but_not_latencies(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(VALID + "quick: {time_scale: 0.5}\n")
    quick = load_scenario(path).quickened()
    assert quick.load.duration == 30
    assert [f.at for f in quick.faults] == [5, 10, 15, 20]
    assert quick.faults[0].profile(quick.provider).latency == 2.0


def test_load_steps_become_a_piecewise_linear_rate(tmp_path):
    path = tmp_path / "spike.yaml"
    path.write_text(
        "name: spike\nload:\n  rate: 10/s\n  duration: 40s\n  arrivals: constant\n  steps:\n"
        "    - {at: 10s, rate: 50/s, phase: spike}\n    - {at: 20s, rate: 10/s, ramp: 10s}\n"
    )
    scenario = load_scenario(path)
    plan = build_plan(scenario, records_path=tmp_path / "r.csv")
    signup = plan.stream("signup")
    assert [(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in signup.segments] == [
        (0, 10, 10, 10),
        (10, 20, 50, 50),
        (20, 30, 50, 10),
        (30, 40, 10, 10),
    ]
    # 10*10 + 50*10 + 30*10 (ramp average) + 10*10
    assert signup.expected_count() == pytest.approx(1000)
    assert [p.name for p in scenario.phases()] == ["healthy", "spike"]


def test_a_design_named_by_its_target_directory_is_left_open_but_its_figures_are_checked(
    tmp_path,
):
    path = tmp_path / "custom.yaml"
    (tmp_path / "mine").mkdir()  # a target directory: its manifest names the design
    header = "name: x\nload: {rate: 1/s, duration: 10s}\ntargets: [sync, ./mine]\n"
    path.write_text(header + "expect: [whatever-it-is-called.emails.lost == 0]\n")
    assert load_scenario(path).expect

    path.write_text(header + "expect: [whatever-it-is-called.emails.lots == 0]\n")
    with pytest.raises(ScenarioError, match=r"field 'expect\[0\]'.*emails\.lost"):
        load_scenario(path)


def test_the_scenario_readme_names_every_metric_gate_tolerances_accepts():
    """scenarios/README.md lists the metrics a ``gate.tolerances`` key may name; the list is
    the gate's policy, so a metric added there must be added to the page too."""
    from offload.gate.policy import GATED_SHORTHANDS

    readme = (Path(__file__).resolve().parents[2] / "scenarios" / "README.md").read_text()
    section = readme.split("### Gate tolerances (`gate:`)", 1)[1].split("\n### ", 1)[0]
    assert [s for s in GATED_SHORTHANDS if f"`{s}`" not in section] == []


def test_gate_tolerances_read_as_shares(tmp_path):
    path = tmp_path / "tolerant.yaml"
    path.write_text(
        "name: x\nload: {rate: 1/s, duration: 10s}\n"
        "gate: {tolerances: {sync.signup.p50: 10%, async.signup.error_rate: 0.01}}\n"
    )
    assert load_scenario(path).gate.tolerances == {
        "sync.signup.p50": 0.10,
        "async.signup.error_rate": 0.01,
    }


def test_the_broker_probe_rate_is_stored_only_when_a_scenario_sets_it(tmp_path: Path):
    """Left out at 0, a scenario stored before the knob existed keeps its digest (the gate's
    identity of a committed baseline); set, it is part of the experiment and stored."""
    path = tmp_path / "demo.yaml"
    path.write_text(VALID)
    assert "broker_probe_rate" not in load_scenario(path).model_dump(mode="json")["load"]
    path.write_text(
        VALID.replace("bystander_rate: 5/s", "bystander_rate: 5/s, broker_probe_rate: 20/s")
    )
    assert load_scenario(path).model_dump(mode="json")["load"]["broker_probe_rate"] == 20.0
