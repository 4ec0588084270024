"""Baselines: saving a run, comparing a new run with it through noise, refusing what differs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from offload.errors import GateFailed
from offload.gate import GateOptions, Verdict, evaluate_run
from offload.gate.baseline import build_baseline, load_baseline, save_baseline
from offload.gate.policy import MetricPolicy, default_policy
from offload.gate.rundir import load_run_dir
from offload.gate.stats import compare
from tests.factories.rundirs import (
    get_figure,
    make_manifest,
    make_summary,
    scale_latencies,
    set_figure,
    write_run,
)

ASYNC_P95 = "designs.async.signup.overall.latency_ms.p95"


def save(run_dir: Path, to: Path) -> Path:
    return save_baseline(build_baseline(load_run_dir(run_dir)), to)


def gate(run_dir: Path, baseline: Path, **options):
    return evaluate_run(run_dir, GateOptions(baseline=baseline, **options))


def failed(report) -> list[str]:
    return [c.name for c in report.checks if c.verdict is Verdict.FAIL]


def noisy(seed: int, spread: float = 0.10, slowdown: float = 1.0):
    """A variant: every latency drifts by up to ±spread per repeat; async p95 × slowdown."""
    rng = random.Random(seed)

    def variant(summary, k):
        scale_latencies(summary, rng.uniform(1 - spread, 1 + spread))
        set_figure(summary, ASYNC_P95, round(get_figure(summary, ASYNC_P95) * slowdown, 3))

    return variant


# -- the comparison ------------------------------------------------------------------------


def test_a_run_gated_against_its_own_baseline_passes(tmp_path: Path):
    run_dir = write_run(tmp_path)
    baseline = save(run_dir, tmp_path / "baselines" / "ci.json")
    report = gate(run_dir, baseline)
    assert report.exit_code == 0
    assert {c.kind for c in report.checks} == {"expect", "baseline"}
    assert all(c.verdict is Verdict.PASS for c in report.checks)


def test_async_signup_twice_as_slow_fails_naming_the_full_path(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "ci.json")
    slow = write_run(tmp_path, name="slow", variant=noisy(1, spread=0, slowdown=2.0))
    report = gate(slow, baseline)
    assert report.exit_code == 1
    assert ASYNC_P95 in failed(report)
    [check] = [c for c in report.checks if c.name == ASYNC_P95]
    assert check.label == "async.signup.p95"
    assert check.change == "+100.0%"
    assert check.message.startswith(
        "regression: median rose from 21 to 42 (+100.0%; tolerance +30%"
    )
    # the unchanged sync figures are not blamed
    assert not [name for name in failed(report) if "designs.sync." in name and "/" not in name]


def test_five_repeats_of_ten_percent_noise_pass(tmp_path: Path):
    baseline = save(
        write_run(tmp_path, name="base", repeats=5, variant=noisy(1)), tmp_path / "b.json"
    )
    for seed in (2, 3, 4):
        current = write_run(tmp_path, name=f"run{seed}", repeats=5, variant=noisy(seed))
        report = gate(current, baseline)
        assert report.exit_code == 0, [
            c.message for c in report.checks if c.verdict is not Verdict.PASS
        ]


def test_five_repeats_forty_percent_slower_fail_by_mann_whitney(tmp_path: Path):
    baseline = save(
        write_run(tmp_path, name="base", repeats=5, variant=noisy(1)), tmp_path / "b.json"
    )
    current = write_run(tmp_path, name="slow", repeats=5, variant=noisy(2, slowdown=1.4))
    report = gate(current, baseline)
    assert report.exit_code == 1
    [check] = [c for c in report.checks if c.name == ASYNC_P95]
    assert check.verdict is Verdict.FAIL
    assert "Mann-Whitney p=" in check.message
    assert "median of 5 vs 5 runs" in check.details


def test_one_bad_repeat_out_of_five_is_noise_not_a_regression(tmp_path: Path):
    baseline = save(
        write_run(tmp_path, name="base", repeats=5, variant=noisy(1)), tmp_path / "b.json"
    )

    def one_outlier(summary, k):
        noisy(k)(summary, k)
        if k == 3:
            set_figure(summary, ASYNC_P95, get_figure(summary, ASYNC_P95) * 3)

    report = gate(write_run(tmp_path, name="cur", repeats=5, variant=one_outlier), baseline)
    assert report.exit_code == 0


def test_one_lost_email_in_any_repeat_is_a_regression(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base", repeats=5), tmp_path / "b.json")

    def one_lost(summary, k):
        if k == 4:
            set_figure(summary, "designs.async.emails.lost", 1)

    run_dir = write_run(
        tmp_path,
        name="cur",
        repeats=5,
        variant=one_lost,
        manifest=make_manifest(expect=[]),
    )
    report = gate(run_dir, baseline)
    assert failed(report) == ["designs.async.emails.lost"]
    [check] = [c for c in report.checks if c.verdict is Verdict.FAIL]
    assert "worst rose from 0 to 1" in check.message


def test_tolerance_scale_widens_every_tolerance(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")
    slow = write_run(tmp_path, name="slow", variant=noisy(1, spread=0, slowdown=2.0))
    assert gate(slow, baseline, tolerance_scale=4.0).exit_code == 0
    with pytest.raises(GateFailed, match="tolerance-scale must be > 0"):
        gate(slow, baseline, tolerance_scale=0)


def test_a_figure_without_a_value_now_fails_its_baseline_check(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")

    def not_drained(summary, k):
        set_figure(summary, "designs.async.queue.drain_seconds", None)
        set_figure(summary, "designs.async.queue.drained", False)

    report = gate(write_run(tmp_path, name="cur", variant=not_drained), baseline)
    [check] = [c for c in report.checks if c.name == "designs.async.queue.drain_seconds"]
    assert check.verdict is Verdict.FAIL
    assert check.message == "no value for designs.async.queue.drain_seconds in this run"


def test_few_runs_warn_that_only_tolerances_decide(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")
    report = gate(write_run(tmp_path, name="cur"), baseline)
    assert any("decided by the tolerances alone" in w for w in report.warnings)


def test_a_baseline_noisier_than_its_tolerance_warns(tmp_path: Path):
    baseline = save(
        write_run(tmp_path, name="base", repeats=3, variant=noisy(1, spread=0.4)),
        tmp_path / "b.json",
    )
    report = gate(
        write_run(tmp_path, name="cur", repeats=3, variant=noisy(1, spread=0.4)), baseline
    )
    assert any("between the baseline's runs, more than its tolerance" in w for w in report.warnings)


# -- refusing to compare different experiments ---------------------------------------------


def test_different_worker_counts_refuse_the_comparison_naming_the_field(tmp_path: Path):
    baseline = save(
        write_run(tmp_path, name="base", manifest=make_manifest(workers=4)), tmp_path / "b.json"
    )
    current = write_run(tmp_path, name="cur", manifest=make_manifest(workers=1))
    with pytest.raises(GateFailed) as caught:
        gate(current, baseline)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert (
        "scenario slow-downstream: design config differs: async.workers baseline 4, current 1 "
        "(--ignore-identity designs.async.workers)" in message
    )
    assert "scenario differs: designs" not in message  # named once, as a design config
    report = gate(current, baseline, ignore_identity=("designs",))
    assert report.exit_code == 0


def test_framework_versions_must_match_but_python_patch_releases_may_differ(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")
    patched = make_manifest(versions={"python": "3.11.11", "locust": "2.50.0"})
    assert gate(write_run(tmp_path, name="patch", manifest=patched), baseline).exit_code == 0
    upgraded = make_manifest(versions={"uvicorn": "0.33.0"})
    run_dir = write_run(tmp_path, name="upgrade", manifest=upgraded)
    with pytest.raises(
        GateFailed, match=r"versions differ: uvicorn baseline 0.32.0, current 0.33.0"
    ):
        gate(run_dir, baseline)
    assert gate(run_dir, baseline, ignore_identity=("versions.uvicorn",)).exit_code == 0


def test_quick_and_full_runs_are_different_experiments(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")
    full = write_run(tmp_path, name="full", manifest=make_manifest(quick=False))
    with pytest.raises(GateFailed, match=r"quick flag differs: baseline true, current false"):
        gate(full, baseline)


def test_a_changed_load_is_named_by_its_field(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")
    manifest = make_manifest()
    manifest["scenario"]["load"]["rate"] = 80.0
    with pytest.raises(GateFailed, match=r"scenario differs: load.rate baseline 40, current 80"):
        gate(write_run(tmp_path, name="cur", manifest=manifest), baseline)


def test_editing_expectations_or_the_description_keeps_the_baseline_comparable(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")
    manifest = make_manifest(expect=["async.emails.lost == 0"])
    manifest["scenario"]["description"] = "reworded"
    manifest["scenario"]["tags"] = ["nightly"]
    assert gate(write_run(tmp_path, name="cur", manifest=manifest), baseline).exit_code == 0


def test_a_checkout_elsewhere_is_the_same_experiment(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")
    manifest = make_manifest()
    manifest["designs"]["async"]["target"]["directory"] = "/somewhere/else/targets/async"
    manifest["designs"]["async"]["target"]["description"] = "reworded"
    assert gate(write_run(tmp_path, name="cur", manifest=manifest), baseline).exit_code == 0
    manifest["designs"]["async"]["target"]["metadata"]["server"] = "hypercorn"
    with pytest.raises(GateFailed, match=r"design target differs: async.metadata.server"):
        gate(write_run(tmp_path, name="cur2", manifest=manifest), baseline)


def test_a_baseline_from_another_machine_is_refused_unless_ignored(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base"), tmp_path / "b.json")
    elsewhere = write_run(tmp_path, name="cur", manifest=make_manifest(cpus=4))
    with pytest.raises(
        GateFailed, match=r"recorded on another machine:\n.*cpus baseline 2, current 4"
    ):
        gate(elsewhere, baseline)
    report = gate(elsewhere, baseline, ignore_identity=("machine",))
    assert report.exit_code == 0
    assert "the machine differs: cpus baseline 2, current 4" in report.warnings


def test_scenarios_missing_on_either_side_are_reported_not_gated(tmp_path: Path):
    baseline = save(write_run(tmp_path, name="base", scenario="broker-down"), tmp_path / "b.json")
    report = gate(write_run(tmp_path, name="cur"), baseline)
    assert report.exit_code == 0  # the expectations still ran
    assert any(
        "scenario slow-downstream is not gated against the baseline" in w for w in report.warnings
    )
    assert "scenario broker-down is in the baseline but was not run" in report.warnings


def test_nothing_to_gate_is_unusable_input(tmp_path: Path):
    run_dir = write_run(tmp_path, manifest=make_manifest(expect=[]))
    with pytest.raises(GateFailed, match="nothing to gate"):
        evaluate_run(run_dir, GateOptions())


# -- invalid runs --------------------------------------------------------------------------


def test_an_invalid_run_is_refused_with_its_reasons(tmp_path: Path):
    run_dir = write_run(tmp_path, valid=False)
    with pytest.raises(GateFailed) as caught:
        evaluate_run(run_dir, GateOptions())
    assert caught.value.exit_code == 2
    assert "slow-downstream: load generator saturated: p99 lateness 250 ms" in str(caught.value)
    report = evaluate_run(run_dir, GateOptions(allow_invalid=True))
    assert report.exit_code == 0
    assert any("is invalid (load generator saturated" in w for w in report.warnings)


# -- the baseline file ---------------------------------------------------------------------


def test_a_baseline_is_never_silently_overwritten(tmp_path: Path):
    run = load_run_dir(write_run(tmp_path))
    target = save_baseline(build_baseline(run), tmp_path / "b.json")
    before = target.read_text()
    with pytest.raises(GateFailed, match="exists; pass --force"):
        save_baseline(build_baseline(run), target)
    assert target.read_text() == before


def test_the_baseline_file_is_readable_json_with_one_line_per_policy_entry(tmp_path: Path):
    target = save(write_run(tmp_path, repeats=2), tmp_path / "b.json")
    text = target.read_text()
    data = json.loads(text)
    assert data["schema_version"] == 1
    scenario = data["scenarios"]["slow-downstream"]
    assert len(scenario["runs"]) == 2
    assert scenario["runs"][0][ASYNC_P95] == 21.0
    assert scenario["identity"]["designs"]["async"]["workers"] == 2
    assert scenario["identity"]["versions"]["python"] == "3.11"
    assert "expect" not in json.dumps(scenario["identity"]["scenario"])
    assert (
        '{"metric": "designs.async.signup.overall.latency_ms.p95", "direction": "lower", '
        '"kind": "relative", "tolerance": 0.3, "min_delta": 2.0}'
    ) in text
    assert (
        '{"metric": "designs.async.emails.lost", "direction": "lower", "kind": "absolute", '
        '"tolerance": 0.0, "statistic": "worst"}'
    ) in text


def test_re_saving_keeps_a_hand_edited_policy(tmp_path: Path):
    run = load_run_dir(write_run(tmp_path))
    target = save_baseline(build_baseline(run), tmp_path / "b.json")
    data = json.loads(target.read_text())
    data["scenarios"]["slow-downstream"]["policy"] = [
        {"metric": "async.signup.p50 / sync.signup.p50", "direction": "lower", "kind": "relative",
         "tolerance": 0.5},
    ]  # fmt: skip
    target.write_text(json.dumps(data))
    saved = build_baseline(run, keep=load_baseline(target))
    save_baseline(saved, target, force=True)
    reread = load_baseline(target).scenarios["slow-downstream"]
    assert [p.metric for p in reread.policy] == ["async.signup.p50 / sync.signup.p50"]
    assert reread.values("async.signup.p50 / sync.signup.p50") == [pytest.approx(6 / 42, abs=1e-6)]


def test_a_metric_added_by_hand_without_baseline_values_is_an_error_check(tmp_path: Path):
    run_dir = write_run(tmp_path)
    target = save(run_dir, tmp_path / "b.json")
    data = json.loads(target.read_text())
    data["scenarios"]["slow-downstream"]["policy"].append(
        {"metric": "async.retries", "direction": "lower", "kind": "relative", "tolerance": 0.5}
    )
    target.write_text(json.dumps(data))
    report = gate(run_dir, target)
    assert report.exit_code == 2
    [check] = [c for c in report.checks if c.verdict is Verdict.ERROR]
    assert "has no values for this metric" in check.message


def test_a_policy_path_that_names_nothing_is_an_error_with_suggestions(tmp_path: Path):
    run_dir = write_run(tmp_path)
    target = save(run_dir, tmp_path / "b.json")
    data = json.loads(target.read_text())
    data["scenarios"]["slow-downstream"]["policy"] = [
        {"metric": "async.retires", "direction": "lower", "kind": "relative", "tolerance": 0.5}
    ]
    data["scenarios"]["slow-downstream"]["runs"] = [{"async.retires": 42}]
    target.write_text(json.dumps(data))
    report = gate(run_dir, target)
    [check] = [c for c in report.checks if c.kind == "baseline"]
    assert check.verdict is Verdict.ERROR
    assert "nearest valid paths: async.retries" in check.message


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.update(schema_version=9),
            "field 'schema_version': 9 is not a baseline version",
        ),
        (
            lambda d: d["scenarios"]["slow-downstream"]["policy"][0].update(direction="smaller"),
            "field 'scenarios.slow-downstream.policy[0].direction': expected one of lower, higher",
        ),
        (
            lambda d: d["scenarios"]["slow-downstream"]["policy"][0].update(tolerance=-1),
            "policy[0].tolerance': expected a number >= 0",
        ),
        (
            lambda d: d["scenarios"]["slow-downstream"]["policy"][0].update(metric="a.b <"),
            "policy[0].metric': '<' needs a figure after it",
        ),
        (
            lambda d: d["scenarios"]["slow-downstream"]["policy"][0].update(tolerence=1),
            "policy[0].tolerence': unknown field",
        ),
        (lambda d: d["settings"].update(alpha=5), "field 'settings.alpha': must be a number"),
    ],
)
def test_a_malformed_baseline_names_the_field(tmp_path: Path, edit, message):
    target = save(write_run(tmp_path), tmp_path / "b.json")
    data = json.loads(target.read_text())
    edit(data)
    target.write_text(json.dumps(data))
    with pytest.raises(GateFailed, match=None) as caught:
        load_baseline(target)
    assert message in str(caught.value)


def test_a_missing_baseline_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(GateFailed, match=r"offload baseline save RUN_DIR --to .*nope.json"):
        load_baseline(tmp_path / "nope.json")


# -- the default policy --------------------------------------------------------------------


def test_the_default_policy_gates_what_the_run_measured():
    summary = make_summary()
    set_figure(summary, "designs.sync.e2e_ms.p95", None)
    metrics = {p.metric: p for p in default_policy(summary, ["sync", "async"])}
    assert metrics[ASYNC_P95].tolerance == 0.30
    assert metrics["designs.async.signup.overall.latency_ms.p50"].tolerance == 0.20
    assert metrics["designs.async.signup.overall.goodput"].direction == "higher"
    assert metrics["designs.async.signup.overall.error_rate"].kind == "absolute"
    assert metrics["designs.async.emails.lost"].statistic == "worst"
    assert "designs.async.queue.drain_seconds" in metrics
    assert "designs.sync.queue.drain_seconds" not in metrics  # sync has no queue
    assert "designs.sync.e2e_ms.p95" not in metrics  # null: nothing to compare with
    cpu = (
        "1000 * (designs.async.resources.api.cpu_s + designs.async.resources.worker.cpu_s)"
        " / designs.async.signup.overall.ok"
    )
    assert cpu in metrics
    assert f"{ASYNC_P95} / designs.sync.signup.overall.latency_ms.p95" in metrics


def test_a_scenarios_gate_tolerances_replace_the_defaults_of_those_metrics_only(tmp_path: Path):
    """The scenario's ``gate.tolerances`` reach the baseline a run is saved as; every other
    metric keeps its default."""
    manifest = make_manifest()
    manifest["scenario"]["gate"] = {"tolerances": {"sync.signup.p50": 0.1}}
    run_dir = write_run(tmp_path / "runs", manifest=manifest)
    saved = json.loads(save(run_dir, tmp_path / "b.json").read_text())
    policy = {p["metric"]: p for p in saved["scenarios"]["slow-downstream"]["policy"]}
    assert policy["designs.sync.signup.overall.latency_ms.p50"]["tolerance"] == 0.1
    assert policy["designs.async.signup.overall.latency_ms.p50"]["tolerance"] == 0.20
    assert policy["designs.sync.signup.overall.latency_ms.p95"]["tolerance"] == 0.30


def test_the_default_policy_reports_but_does_not_gate_percentiles_too_few_requests_support():
    """p99 of 80 signups is their largest value or next to it: it moved by half between
    unchanged repeats, so a baseline of a short run gates the median, not the tail."""
    summary = make_summary()
    set_figure(summary, "designs.async.signup.overall.count", 80)
    set_figure(summary, "designs.async.emails.delivered", 80)
    metrics = {p.metric for p in default_policy(summary, ["sync", "async"])}
    assert "designs.async.signup.overall.latency_ms.p50" in metrics  # 40 requests beyond it
    assert ASYNC_P95 not in metrics  # 4 beyond it
    assert "designs.async.signup.overall.latency_ms.p99" not in metrics
    assert "designs.async.e2e_ms.p95" not in metrics
    assert f"{ASYNC_P95} / designs.sync.signup.overall.latency_ms.p95" not in metrics
    # the other design's long run keeps its tails gated
    assert "designs.sync.signup.overall.latency_ms.p99" in metrics


# -- the statistic -------------------------------------------------------------------------


def policy(**fields) -> MetricPolicy:
    defaults = {"metric": "x", "direction": "lower", "kind": "relative", "tolerance": 0.3}
    return MetricPolicy(**{**defaults, **fields})


def test_higher_is_better_metrics_regress_when_they_drop():
    goodput = policy(direction="higher", tolerance=0.1)
    assert compare(goodput, [40.0], [30.0]).regressed
    assert not compare(goodput, [40.0], [50.0]).regressed


def test_absolute_tolerances_are_in_the_metrics_unit():
    error_rate = policy(kind="absolute", tolerance=0.02)
    assert not compare(error_rate, [0.01], [0.025]).regressed
    assert compare(error_rate, [0.01], [0.035]).regressed


def test_min_delta_keeps_millisecond_jitter_from_failing():
    p95 = policy(min_delta=2.0)
    assert not compare(p95, [3.0], [4.5]).regressed  # +50 %, but 1.5 ms
    assert compare(p95, [30.0], [45.0]).regressed


def test_a_baseline_of_zero_regresses_on_any_increase():
    drain = policy()
    comparison = compare(drain, [0.0], [1.0])
    assert comparison.regressed and comparison.change_text("relative") == "+inf"
    assert not compare(drain, [0.0], [0.0]).regressed


def test_three_repeats_each_side_can_just_reach_significance():
    comparison = compare(policy(), [10.0, 10.5, 11.0], [20.0, 21.0, 22.0])
    assert comparison.p_value == pytest.approx(0.05)
    assert comparison.regressed


def test_the_documented_false_positive_rate_holds_in_simulation():
    """docs/gate.md: 5 repeats per side, 10 % run-to-run noise, tolerance 30 % → A/A false
    positives well under 1 % per metric, while a 2× slowdown is caught every time."""
    rng = random.Random(11)
    p95 = policy()

    def runs(factor: float) -> list[float]:
        return [100 * factor * rng.lognormvariate(0, 0.10) for _ in range(5)]

    trials = 400
    false_positives = sum(compare(p95, runs(1.0), runs(1.0)).regressed for _ in range(trials))
    caught = sum(compare(p95, runs(1.0), runs(2.0)).regressed for _ in range(trials))
    assert false_positives / trials < 0.01
    assert caught == trials
