"""Each design knob and each provider setting is declared once; a scenario is refused at load
time for any value the component that reads it would refuse later, and every value it
accepts, the component accepts too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from offload.cli import main
from offload.gate.identity import identity_of
from offload.run import orchestrator
from offload.rundir.manifest import ScenarioManifest
from offload.scenario import DesignOverrides, Designs, ProviderProfile, Scenario, load_scenario
from offload.scenario.designs import scenario_spelling
from offload.scenario.provider import ON_THE_PROVIDER
from targets.common.knobs import DesignKnobs, ProcessKnobs, RetryDelay
from targets.common.settings import TargetSettings
from targets.downstream.profile import FaultProfile, parse_profile

LOAD = "name: knobs\nload: {rate: 1/s, duration: 10s}\n"


@pytest.fixture
def refusal(tmp_path, capsys, monkeypatch) -> Callable[[str], str]:
    """What ``offload bench`` says about a scenario it refuses (exit 2, no traceback); a test
    fails, rather than start a bench, if the scenario is accepted."""

    def load_or_fail(file: Path) -> Scenario:
        scenario = load_scenario(file)
        pytest.fail(f"{file} was accepted: the bench would start")
        return scenario

    monkeypatch.setattr(orchestrator, "load_scenario", load_or_fail)

    def refuse(text: str) -> str:
        path = tmp_path / "knobs.yaml"
        path.write_text(LOAD + text)
        code = main(["bench", "--scenario", str(path), "--reports-dir", str(tmp_path / "runs")])
        err = capsys.readouterr().err
        assert code == 2
        assert "Traceback" not in err
        assert not (tmp_path / "runs").exists()
        assert str(path) in err
        return err.replace(f"{path}: ", "")

    return refuse


# -- the two values that used to pass the scenario and fail at run time ----------------------


def test_a_retry_after_that_is_not_whole_seconds_is_refused_at_load_time(refusal):
    err = refusal("provider: {retry_after: 1500ms}\n")

    assert "field 'provider.retry_after'" in err
    assert "retry_after_s=1.5" in err and "valid integer" in err


def test_a_retry_after_in_a_fault_is_refused_at_load_time_too(refusal):
    err = refusal("faults: [{at: 1s, downstream: {retry_after: 2.5s}}]\n")

    assert "field 'faults[0].downstream.retry_after'" in err


def test_a_zero_retry_delay_is_refused_at_load_time(refusal):
    err = refusal("designs: {retry_delays: [0]}\n")

    assert "field 'designs.retry_delays[0]': Input should be greater than 0" in err
    assert len(err.strip().splitlines()) == 1  # one problem, one line


def test_a_zero_retry_delay_in_a_variant_is_refused_at_load_time(refusal):
    err = refusal("targets: [{target: async, name: a, designs: {retry_delays: [1s, 0]}}]\n")

    assert "field 'targets[0].designs.retry_delays[1]': Input should be greater than 0" in err
    assert len(err.strip().splitlines()) == 1


def test_a_knob_out_of_range_in_a_variant_names_the_variants_field(refusal):
    err = refusal("targets: [sync, {target: async, designs: {workers: 99}}]\n")

    assert "field 'targets[1].designs.workers': Input should be less than or equal to 64" in err


def test_a_scenario_writes_knobs_in_seconds_without_their_unit_suffix(refusal):
    err = refusal("designs: {provider_timeout_s: 3}\n")

    assert "field 'designs.provider_timeout_s': unknown field" in err


# -- design knobs: what a scenario accepts, the designs accept --------------------------------


def limits(metadata: list[Any]) -> dict[str, float]:
    """The declared bounds among a field's constraints: ``{"ge": 1, "le": 64}``."""
    found: dict[str, float] = {}
    for constraint in metadata:
        for kind in ("ge", "gt", "le", "lt"):
            if isinstance(constraint, getattr(annotated_types, kind.capitalize())):
                found[kind] = getattr(constraint, kind)
    return found


def edges(kind: type, metadata: list[Any], default: Any) -> tuple[list[Any], list[Any]]:
    """A number field's default and its values at each declared bound: (accepted, refused)."""
    whole = kind is int
    step = 1 if whole else 1e-3
    bounds = limits(metadata)
    accepted: list[Any] = [default]
    refused: list[Any] = [default + 0.5] if whole else []
    if "ge" in bounds:
        accepted.append(bounds["ge"])
        refused.append(bounds["ge"] - step)
    if "gt" in bounds:
        accepted.append(bounds["gt"] + step)
        refused.append(bounds["gt"])
    if "le" in bounds:
        accepted.append(bounds["le"])
        refused.append(bounds["le"] + step)
    return accepted, refused


DELAY_BOUND = limits(FieldInfo.from_annotation(RetryDelay).metadata)["gt"]
#: retry delays at and beyond their bounds: every item > 0, at least one
DELAYS_ACCEPTED = [(DELAY_BOUND + 1e-3,), (0.5, 1.0, 2.0), DesignKnobs().retry_delays_s]
DELAYS_REFUSED = [(DELAY_BOUND,), (1.0, DELAY_BOUND), ()]

NUMBER_KNOBS = [
    name for name, field in DesignKnobs.model_fields.items() if field.annotation in (int, float)
]


def test_every_knob_is_either_a_number_or_the_retry_delays():
    """The edge cases below cover every knob; a new kind of knob needs its own cases here
    (``metrics`` and ``tracing``, the switches: test_metrics_switch, test_tracing_switch)."""
    assert set(DesignKnobs.model_fields) == {
        *NUMBER_KNOBS,
        "retry_delays_s",
        "metrics",
        "tracing",
    }
    assert limits(DesignKnobs.model_fields["provider_timeout_s"].metadata) == {"gt": 0, "le": 120}


def designs_section(name: str, value: Any) -> dict[str, Any]:
    """One knob as a scenario's YAML has it (seconds as a duration with a unit)."""
    if name.endswith("_s"):
        value = [f"{v}s" for v in value] if isinstance(value, tuple) else f"{value}s"
    return {scenario_spelling(name): value}


def knob_cases() -> list[tuple[str, Any, bool]]:
    """Each knob at and beyond its declared bounds: (knob, value, accepted?)."""
    cases: list[tuple[str, Any, bool]] = []
    for name in NUMBER_KNOBS:
        field = DesignKnobs.model_fields[name]
        accepted, refused = edges(field.annotation, field.metadata, field.default)
        cases += [(name, v, True) for v in accepted] + [(name, v, False) for v in refused]
    cases += [("retry_delays_s", v, True) for v in DELAYS_ACCEPTED]
    cases += [("retry_delays_s", v, False) for v in DELAYS_REFUSED]
    return cases


@pytest.mark.parametrize(("name", "value", "valid"), knob_cases())
def test_a_knob_reaches_the_designs_unchanged_or_is_refused_by_both(
    monkeypatch, name, value, valid
):
    """Accepted: the scenario's value is what the design's processes read from the environment.
    Refused: by the scenario, a variant's overrides and the designs' settings alike."""
    section = designs_section(name, value)
    if not valid:
        with pytest.raises(ValidationError):
            Designs.model_validate(section)
        with pytest.raises(ValidationError):
            DesignOverrides.model_validate(section)
        if name in ProcessKnobs.model_fields:
            with pytest.raises(ValidationError):
                TargetSettings(**{name: value})
        return

    scenario = Scenario.model_validate(
        {"name": "k", "targets": ["sync"], "load": {"rate": 1, "duration": 10}, "designs": section}
    )
    (variant,) = scenario.variants()
    assert getattr(variant.config, name) == pytest.approx(value)
    for variable, text in variant.config.target_env().items():
        monkeypatch.setenv(variable, text)
    read = TargetSettings()
    assert {k: getattr(read, k) for k in ProcessKnobs.model_fields} == {
        k: getattr(variant.config, k) for k in ProcessKnobs.model_fields
    }


def test_a_variant_changes_only_the_knobs_it_sets():
    scenario = Scenario.model_validate(
        {
            "name": "k",
            "load": {"rate": 1, "duration": 10},
            "designs": {"prefetch": 5, "provider_timeout": "5s"},
            "targets": ["sync", {"target": "async", "name": "w8", "designs": {"workers": 8}}],
        }
    )
    sync, async_ = (variant.config for variant in scenario.variants())

    assert (sync.workers, sync.prefetch, sync.provider_timeout_s) == (2, 5, 5.0)
    assert (async_.workers, async_.prefetch, async_.provider_timeout_s) == (8, 5, 5.0)


def test_a_stored_scenario_reads_back_as_it_was_written():
    """The run directory keeps the scenario as dumped; the analysis validates it again."""
    scenario = Scenario.model_validate(
        {
            "name": "k",
            "load": {"rate": 1, "duration": 10},
            "designs": {"retry_delays": ["500ms", "1s"]},
            "targets": [{"target": "async", "name": "w8", "designs": {"workers": 8}}],
            "faults": [{"at": 1, "downstream": {"latency": "2s"}}],
        }
    )
    stored = scenario.model_dump(mode="json")

    assert stored["designs"]["retry_delays"] == [0.5, 1.0]
    assert stored["targets"][0]["designs"]["workers"] == 8
    assert stored["targets"][0]["designs"]["prefetch"] is None  # unset: keeps the shared value
    assert stored["faults"][0]["downstream"]["jitter"] is None
    assert Scenario.model_validate(stored) == scenario


# -- the provider's profile: what a scenario accepts, the provider accepts --------------------


def test_every_provider_setting_but_the_runs_own_is_a_scenario_setting():
    """A field added to the provider's profile needs its line in ProviderProfile."""
    assert set(ProviderProfile.model_fields) == set(ON_THE_PROVIDER)
    assert {field for field, _ in ON_THE_PROVIDER.values()} == set(FaultProfile.model_fields) - {
        "reject_domains",
        "seed",
    }


def test_the_scenarios_default_provider_is_the_providers_default():
    assert parse_profile(ProviderProfile().admin_payload()) == FaultProfile()


def provider_cases() -> list[tuple[str, Any, bool]]:
    """Each scenario setting at and beyond the provider's bounds, in the scenario's unit."""
    cases: list[tuple[str, Any, bool]] = []
    for name, (field, per_unit) in ON_THE_PROVIDER.items():
        declared = FaultProfile.model_fields[field]
        if declared.annotation is bool:
            cases += [(name, True, True), (name, False, True)]
            continue
        kind, default = declared.annotation, declared.default
        if default is None:  # optional (no rate limit): unset is the provider's default
            cases.append((name, None, True))
            kind, default = float, 1.0
        accepted, refused = edges(kind, declared.metadata, default)
        cases += [(name, v / per_unit, True) for v in accepted]
        cases += [(name, v / per_unit, False) for v in refused]
    return cases


@pytest.mark.parametrize(("name", "value", "valid"), provider_cases())
def test_a_provider_setting_is_installed_unchanged_or_is_refused_by_both(name, value, valid):
    """Accepted: the provider installs the scenario's value (in its own unit). Refused: by the
    scenario, naming its field, and by the provider, naming its own."""
    field, per_unit = ON_THE_PROVIDER[name]
    if not valid:
        with pytest.raises(ValidationError, match=name):
            ProviderProfile.model_validate({name: value})
        with pytest.raises(ValueError, match=field):
            parse_profile({field: value * per_unit})
        return

    installed = parse_profile(ProviderProfile.model_validate({name: value}).admin_payload())
    expected = FaultProfile.model_fields[field].default if value is None else value * per_unit
    assert getattr(installed, field) == pytest.approx(expected)


def test_the_gate_scenario_keeps_the_identity_its_committed_baseline_was_taken_with():
    """A stored scenario is compared by digest: writing a knob differently (``1`` for
    ``1.0``, a missing null) would make ``make gate-baseline`` refuse the committed baseline
    (recorded with --quick, as that target runs it)."""
    root = Path(__file__).resolve().parents[2]
    baseline = json.loads((root / "baselines" / "ci.json").read_text())
    expected = baseline["scenarios"]["ci-gate"]["identity"]["scenario_sha256"]
    quick = load_scenario(root / "scenarios" / "ci-gate.yaml").quickened()
    stored = quick.model_dump(mode="json")

    manifest = ScenarioManifest.model_validate(
        {"schema_version": 1, "scenario": stored, "phases": []}
    )

    assert identity_of(manifest)["scenario_sha256"] == expected


def test_server_threads_is_recorded_only_for_a_target_that_reads_it():
    from offload.run.design import recorded_knobs
    from offload.target.manifest import resolve_target

    config = DesignKnobs(server_threads=16)

    assert recorded_knobs(resolve_target("sync-threads"), config).server_threads == 16
    assert recorded_knobs(resolve_target("sync"), config).server_threads is None
    assert recorded_knobs(resolve_target("async"), config).server_threads is None


def test_a_scenario_that_leaves_server_threads_alone_is_recorded_as_before_the_knob():
    """The gate compares a run's recorded scenario with its baseline's: a knob added later
    must not make every earlier baseline a different experiment."""
    assert "server_threads" not in Designs().model_dump(mode="json")
    assert (
        Designs.model_validate({"server_threads": 4}).model_dump(mode="json")["server_threads"] == 4
    )


def test_metrics_switch():
    """``metrics: true`` in a scenario turns the components' metrics on (off by default: they
    cost more than a default may); it is the harness's switch (no process reads it) and
    recorded only when on."""
    assert Designs.model_validate({}).config().metrics is False
    on = Designs.model_validate({"metrics": True}).config()
    assert on.metrics is True
    assert "OFFLOAD_METRICS" not in on.target_env()
    assert "metrics" not in DesignKnobs().model_dump() and on.model_dump()["metrics"] is True
    with pytest.raises(ValidationError):
        Designs.model_validate({"metrics": "sometimes"})
