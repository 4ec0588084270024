"""A design that never got going (its target failed to start, the run was cut short) still
gets a summary: every figure present, zero or empty, and the run marked invalid — so reports
and the gate can say what happened instead of crashing."""

from __future__ import annotations

import json

from offload.analysis.summary import write_summary
from offload.rundir.manifest import (
    DesignEntry,
    DesignKnobs,
    LoadRecord,
    PhaseRecord,
    ScenarioManifest,
    ScenarioRecord,
    TargetRecord,
)


def test_a_design_with_no_records_is_summarised_as_empty_and_invalid(tmp_path):
    scenario_dir = tmp_path / "broken"
    design_dir = scenario_dir / "async"
    design_dir.mkdir(parents=True)
    (design_dir / "provider-log.jsonl").write_text("")
    ScenarioManifest(
        scenario=ScenarioRecord(name="broken", load=LoadRecord(rate=1.0, duration=10.0)),
        phases=[PhaseRecord(name="healthy", start_s=0.0, end_s=10.0, provider="healthy")],
        designs={
            "async": DesignEntry(
                target=TargetRecord(name="async", kind="async"), kind="async", config=DesignKnobs()
            )
        },
        invalid_reasons=["async: the target did not start"],
    ).dump(scenario_dir / "manifest.json")

    summary = write_summary(scenario_dir)

    assert summary.valid is False
    figures = summary.designs["async"]
    assert figures.signup.overall.count == 0
    assert figures.signup.overall.latency_ms.p95 is None
    assert figures.emails.to_json() == {
        "owed": 0,
        "delivered": 0,
        "lost": 0,
        "duplicates": 0,
        "dead_lettered": 0,
        "pending": 0,
        "orphaned": 0,
        "duplicate_attempts": 0,
        "owed_warmup": 0,
    }
    written = json.loads((scenario_dir / "summary.json").read_text())  # still valid JSON
    assert written["designs"]["async"]["signup"]["overall"]["latency_ms"]["p95"] is None
