"""The A/B gate's pair loop and judgement on synthetic run directories (no benches): a slowed
candidate fails naming the metric, an unchanged one passes, an invalid pair is run again once
and a pair invalid twice refuses the gate."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.console import Console

from offload.errors import GateFailed
from offload.gate.ab import ABOptions, _copy_scenarios, _measure, paired_report
from offload.gate.checks import GateReport, Verdict
from offload.gate.junit import render_junit
from offload.gate.markdown import render_markdown
from offload.gate.pairs import RunPair, check_pairs
from offload.gate.rundir import load_run_dir
from offload.gate.sides import BASE, CANDIDATE, Side
from offload.rundir.gate_run import GateRunRecord
from offload.scenario import load_scenario
from tests.factories.rundirs import gate_run_record, make_manifest, scale_latencies, write_run

pytestmark = pytest.mark.unit

P50 = "designs.async.signup.overall.latency_ms.p50"


def pairs_of(tmp_path: Path, factors: Sequence[float]) -> list[RunPair]:
    """One pair per factor: the candidate's latencies are the base's times the factor."""
    out = []
    for k, factor in enumerate(factors, start=1):
        base = write_run(tmp_path / "base", name=f"p{k}")
        candidate = write_run(
            tmp_path / "candidate",
            name=f"p{k}",
            variant=lambda summary, _, f=factor: scale_latencies(summary, f, design="async"),
        )
        order = "AB" if k % 2 else "BA"
        out.append(RunPair(k, order, load_run_dir(base), load_run_dir(candidate)))
    return out


def judge(pairs: list[RunPair]):
    return check_pairs(pairs, alpha=0.125, tolerance_scale=1.0, expectations=True)


def test_a_slowed_candidate_fails_naming_the_metric_with_its_pairs(tmp_path: Path):
    judged = judge(pairs_of(tmp_path, [2.0, 2.1, 1.9]))
    failed = {c.name: c for c in judged.checks if c.verdict is Verdict.FAIL}
    assert P50 in failed
    assert [row.order for row in failed[P50].pairs] == ["AB", "BA", "AB"]
    assert failed[P50].kind == "ab"
    assert failed[P50].message.startswith("regression: ")


def test_an_unchanged_candidate_passes(tmp_path: Path):
    judged = judge(pairs_of(tmp_path, [1.0, 1.0, 1.0]))
    assert judged.checks
    assert all(c.verdict is Verdict.PASS for c in judged.checks)


@dataclass(frozen=True)
class ScriptedSide(Side):
    """A side whose benches write synthetic run directories, valid or not as scripted."""

    validity: Iterator[bool] = field(default_factory=lambda: itertools.repeat(True))
    #: the rendezvous folder each bench was given (None: one at a time)
    meetings: list[Path | None] = field(default_factory=list)

    def start_bench(self, scenario_files, reports_dir, *, quick, amqp_url, log, rendezvous=None):
        run_dir = write_run(reports_dir / "runs", name="r", valid=next(self.validity))
        (reports_dir / "latest").symlink_to(run_dir)
        self.meetings.append(rendezvous)
        return subprocess.Popen([sys.executable, "-c", "pass"])


def measure(
    tmp_path: Path, base_validity: list[bool], pairs: int = 2, *, side_by_side: bool = True
) -> GateReport:
    report = GateReport(run_dir=tmp_path)
    base = ScriptedSide(BASE, tmp_path, Path("python"), "base", iter(base_validity))
    candidate = ScriptedSide(CANDIDATE, tmp_path, Path("python"), "candidate")
    record = gate_run_record(["AB", "BA"][:pairs], side_by_side=side_by_side)
    found = _measure(
        base,
        candidate,
        {BASE: [], CANDIDATE: []},
        record,
        tmp_path,
        ABOptions(base="x", side_by_side=side_by_side),
        None,
        report,
        Console(),
    )
    assert [p.number for p in found] == list(range(1, pairs + 1))
    return report


def test_an_invalid_pair_is_run_again_once_and_the_gate_says_so(tmp_path: Path):
    report = measure(tmp_path, [True, False, True])
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("pair 2 was run again: a run was invalid (base: ")
    assert "load generator saturated" in report.warnings[0]
    assert (tmp_path / "base" / "pair-2-rerun-1").is_dir()
    assert (tmp_path / "candidate" / "pair-2-rerun-1").is_dir()
    # the gate's record names the attempt it judged, for `offload spread` to read
    judged = GateRunRecord.in_folder(tmp_path).judged
    assert [(p.number, p.folder) for p in judged] == [(1, "pair-1"), (2, "pair-2-rerun-1")]


def test_a_pair_invalid_twice_refuses_the_gate_with_the_reason(tmp_path: Path):
    with pytest.raises(GateFailed, match=r"pair 1 was invalid twice.*load generator saturated"):
        measure(tmp_path, [False, False])


def test_the_reports_show_every_pair_and_junit_stays_valid(tmp_path: Path):
    import xmlschema

    judged = judge(pairs_of(tmp_path, [2.0, 2.1, 1.9]))
    report = paired_report(
        tmp_path, context="Base: `main (abc)` · candidate: `working tree at def`"
    )
    report.checks = judged.checks
    markdown = render_markdown(report)
    assert markdown.startswith("## ❌ offload gate: FAIL")
    assert "| | scenario | kind | check | candidate | base | paired change |" in markdown
    assert "paired change: the median of the pairs' own changes" in markdown
    assert "<details open><summary>❌ slow-downstream · <code>async.signup.p50</code>" in markdown
    junit = render_junit(report)
    xmlschema.XMLSchema(str(Path(__file__).resolve().parents[1] / "data" / "junit.xsd")).validate(
        junit
    )
    assert "pair 1 (AB): base " in junit


SYNC_P50 = "designs.sync.signup.overall.latency_ms.p50"


def sync_pairs(tmp_path: Path, factor: float, tolerances: dict[str, float] | None) -> list[RunPair]:
    """Three pairs whose candidate's sync latencies are the base's times ``factor``; the
    candidate's scenario carries ``tolerances`` in its gate section (the base's never does)."""
    manifest = make_manifest()
    if tolerances is not None:
        manifest["scenario"]["gate"] = {"tolerances": tolerances}
    out = []
    for k in (1, 2, 3):
        base = write_run(tmp_path / "base", name=f"p{k}")
        candidate = write_run(
            tmp_path / "candidate",
            name=f"p{k}",
            manifest=manifest,
            variant=lambda summary, _: scale_latencies(summary, factor, design="sync"),
        )
        out.append(RunPair(k, "AB" if k % 2 else "BA", load_run_dir(base), load_run_dir(candidate)))
    return out


def test_a_scenarios_own_tolerance_catches_what_the_default_lets_through(tmp_path: Path):
    """A 15 % sync slowdown passes the default 20 % and fails the scenario's 10 %."""
    default = {c.name: c for c in judge(sync_pairs(tmp_path / "default", 1.15, None)).checks}
    assert default[SYNC_P50].verdict is Verdict.PASS
    tight = judge(sync_pairs(tmp_path / "tight", 1.15, {"sync.signup.p50": 0.10})).checks
    by_name = {c.name: c for c in tight}
    assert by_name[SYNC_P50].verdict is Verdict.FAIL
    assert "+10%" in by_name[SYNC_P50].message or "10 %" in by_name[SYNC_P50].message
    # only the named metric changed its tolerance
    assert by_name["designs.sync.signup.overall.latency_ms.p95"].verdict is Verdict.PASS


def test_the_base_runs_the_scenario_without_its_gate_section(tmp_path: Path):
    """The candidate runs the file's exact bytes; the base, which may predate the section,
    gets the same workload without it; a file without the section is copied as is."""
    shipped = Path(__file__).resolve().parents[2] / "scenarios"
    files = [shipped / "ci-gate.yaml", shipped / "baseline.yaml"]
    copies = _copy_scenarios(files, tmp_path / "scenarios")
    candidate, base = copies[CANDIDATE], copies[BASE]
    assert [c.read_bytes() for c in candidate] == [f.read_bytes() for f in files]
    base_ci = load_scenario(base[0])
    assert base_ci.gate.tolerances == {}
    full = load_scenario(files[0])
    assert full.gate.tolerances  # the shipped gate scenario sets some
    assert base_ci.model_dump(exclude={"gate"}) == full.model_dump(exclude={"gate"})
    assert base[1].read_bytes() == files[1].read_bytes()


@pytest.mark.parametrize("side_by_side", [True, False])
def test_side_by_side_benches_of_a_pair_meet_in_one_folder(tmp_path: Path, side_by_side: bool):
    """Side by side, both benches of a pair (and of its re-run) get the same folder, and no
    two pairs share one; one at a time, neither gets one."""
    base = ScriptedSide(BASE, tmp_path, Path("python"), "base", iter([True, False, True]))
    candidate = ScriptedSide(CANDIDATE, tmp_path, Path("python"), "candidate")
    _measure(
        base, candidate, {BASE: [], CANDIDATE: []}, gate_run_record(["AB", "BA"]), tmp_path,
        ABOptions(base="x", side_by_side=side_by_side), None, GateReport(run_dir=tmp_path),
        Console(),
    )  # fmt: skip
    assert base.meetings == candidate.meetings
    if side_by_side:
        assert base.meetings == [
            tmp_path / "rendezvous" / "pair-1",
            tmp_path / "rendezvous" / "pair-2",
            tmp_path / "rendezvous" / "pair-2-rerun-1",
        ]
    else:
        assert base.meetings == [None, None, None]


def _losing(lost_in: dict[int, int]):
    """A variant factory: pair k's async design lost ``lost_in[k]`` emails."""

    def variant_for(k: int):
        def variant(summary, _):
            summary["designs"]["async"]["emails"]["lost"] = lost_in.get(k, 0)

        return variant

    return variant_for


def _pairs_losing(tmp_path: Path, base_lost: dict[int, int], candidate_lost: dict[int, int]):
    out = []
    for k in (1, 2, 3):
        base = write_run(tmp_path / "base", name=f"p{k}", variant=_losing(base_lost)(k))
        candidate = write_run(
            tmp_path / "candidate", name=f"p{k}", variant=_losing(candidate_lost)(k)
        )
        out.append(RunPair(k, "AB", load_run_dir(base), load_run_dir(candidate)))
    return out


def _lost_check(judged):
    (check,) = [c for c in judged.checks if c.name == "async.emails.lost == 0"]
    return check


def test_an_expectation_the_base_breaks_in_the_same_pair_is_not_held_against_the_change(
    tmp_path: Path,
):
    """Side by side, a broker that stalls under both sides breaks an expectation on both:
    the change did not do it, so the gate passes it and warns with both sides' figures."""
    judged = judge(_pairs_losing(tmp_path, base_lost={2: 3}, candidate_lost={2: 1}))
    check = _lost_check(judged)
    assert check.verdict is Verdict.PASS
    assert check.message.startswith("fails on the base in the same pair(s) too")
    (warning,) = [w for w in judged.warnings if "async.emails.lost == 0" in w]
    assert "in pair(s) 2, nor on the base in the same pair(s) (base: 3 == 0)" in warning


def test_an_expectation_only_the_candidate_breaks_still_fails(tmp_path: Path):
    """The base breaking it in another pair excuses nothing: pair 3 failed on the candidate
    alone."""
    judged = judge(_pairs_losing(tmp_path, base_lost={1: 2}, candidate_lost={1: 1, 3: 1}))
    check = _lost_check(judged)
    assert check.verdict is Verdict.FAIL
    assert "in p1, p3 of 3 pairs" in check.message
    assert not [w for w in judged.warnings if "async.emails.lost == 0" in w]
