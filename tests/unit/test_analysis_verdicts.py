"""Verdicts and claims are computed from the numbers: opposite numbers, opposite words."""

from __future__ import annotations

from typing import Any

from offload.analysis.claims import CONTRADICTED, NOT_TESTED, SUPPORTED, combine, evaluate_claims
from offload.analysis.headline import scenario_headline
from offload.analysis.verdicts import (
    TIE,
    MeasurementFloor,
    Reading,
    compare,
    judge,
    repeat_verdicts,
    scenario_sentences,
    scenario_verdicts,
)
from offload.rundir.manifest import ScenarioManifest
from offload.rundir.summary import Interval, Summary


def _latency(p95: float) -> dict[str, float]:
    return {"p50": p95 / 2, "p90": p95, "p95": p95, "p99": p95, "p99_9": p95, "max": p95}


def _window(p95: float, *, count: int = 100, ok: int | None = None) -> dict[str, Any]:
    ok = count if ok is None else ok
    return {
        "count": count,
        "ok": ok,
        "errors": count - ok,
        "http_4xx": 0,
        "http_5xx": count - ok,
        "connection_errors": 0,
        "timeouts": 0,
        "dropped": 0,
        "error_rate": (count - ok) / count,
        "offered_rate": count / 10,
        "rate": count / 10,
        "goodput": ok / 10,
        "latency_ms": _latency(p95),
        "service_ms": _latency(p95),
    }


def design(
    kind: str,
    *,
    signup_p95: float,
    e2e_p95: float,
    bystander: tuple[float, float],
    lost: int = 0,
    ok: int = 100,
    cpu: float = 1.0,
) -> dict[str, Any]:
    healthy, slow = bystander
    resources = {
        f"{kind}-api": {"cpu_s": cpu, "peak_rss_mb": 50.0},
        "generator": {"cpu_s": 9.0, "peak_rss_mb": 50.0},
    }
    if kind == "async":
        resources["broker"] = {"cpu_s": cpu, "peak_rss_mb": 100.0}
    return {
        "kind": kind,
        "signup": {
            "overall": _window(signup_p95, ok=ok),
            "phases": {"healthy": _window(signup_p95), "slow": _window(signup_p95, ok=ok)},
        },
        "bystander": {
            "overall": _window(slow),
            "phases": {"healthy": _window(healthy), "slow": _window(slow)},
        },
        "e2e_ms": _latency(e2e_p95),
        "emails": {
            "owed": 100,
            "delivered": 100 - lost,
            "lost": lost,
            "duplicates": 0,
            "dead_lettered": 0,
            "pending": 0,
            "orphaned": 0,
            "duplicate_attempts": 0,
        },
        "consistency": {"stored_but_failed": 0, "acknowledged_but_missing": 0},
        "generator": {
            "cpu_s": 9.0, "cpu_percent": 10.0, "scheduled": 200, "sent": 200, "dropped": 0,
            "late_starts": 0, "lateness_ms": {"p50": 0.5, "p99": 2.0, "max": 4.0},
            "saturated": False,
        },
        "resources": resources,
        "retries": 0,
    }  # fmt: skip


PHASES = [
    {"name": "healthy", "start_s": 0, "end_s": 15, "provider": "latency 50ms"},
    {"name": "slow", "start_s": 15, "end_s": 40, "provider": "latency 2s"},
]


def summary(sync: dict[str, Any], async_: dict[str, Any]) -> Summary:
    return Summary.model_validate(
        {
            "scenario": "slow-downstream",
            "valid": True,
            "phases": PHASES,
            "designs": {"sync": sync, "async": async_},
        }
    )


ASYNC_WINS = summary(
    design("sync", signup_p95=5005, e2e_p95=4231, bystander=(4, 5005), ok=60, cpu=2.0),
    design("async", signup_p95=7, e2e_p95=2161, bystander=(4, 4), cpu=3.0),
)
SYNC_WINS = summary(
    design("sync", signup_p95=7, e2e_p95=2161, bystander=(4, 4), cpu=3.0),
    design("async", signup_p95=5005, e2e_p95=4231, bystander=(4, 5005), ok=60, lost=3, cpu=2.0),
)


def manifest(workers: dict[str, int]) -> ScenarioManifest:
    """A manifest of the slow-downstream scenario with async designs of these worker counts
    (and a sync design when ``sync`` is among them)."""
    return ScenarioManifest.model_validate(
        {
            "scenario": {
                "name": "slow-downstream",
                "load": {"rate": 20, "duration": 40},
                "provider": {"latency": 0.05},
                "faults": [{"at": 15, "phase": "slow", "downstream": {"latency": 2.0}}],
            },
            "phases": PHASES,
            "designs": {
                name: {
                    "target": {"name": kind, "kind": kind},
                    "kind": kind,
                    "config": {"workers": count},
                }
                for name, count in workers.items()
                for kind in ["sync" if name == "sync" else "async"]
            },
        }
    )


MANIFEST = manifest({"sync": 2, "async": 2})


def _by_key(summary_: Summary):
    return {v.key: v for v in scenario_verdicts(summary_)}


def test_opposite_numbers_give_opposite_winners():
    first, second = _by_key(ASYNC_WINS), _by_key(SYNC_WINS)
    assert first["signup_p95_ms"].winner == "async"
    assert second["signup_p95_ms"].winner == "sync"
    assert first["signup_p95_ms"].factor == second["signup_p95_ms"].factor == "715× lower"
    assert first["e2e_p95_ms"].winner == "async"
    assert second["e2e_p95_ms"].winner == "sync"
    assert first["bystander_worst_p95_ms"].winner == "async"
    assert second["bystander_worst_p95_ms"].winner == "sync"


def test_cpu_per_thousand_signups_excludes_the_rig_and_includes_the_broker():
    verdict = _by_key(ASYNC_WINS)["cpu_per_1000_signups_s"]
    # sync: its API's 2 s over 60 good signups; async: API 3 s + broker 3 s over 100
    assert verdict.values == {"sync": 33.333, "async": 60.0}
    assert (verdict.winner, verdict.factor) == ("sync", "1.8× lower")
    assert verdict.notes["async"] == "incl. broker"


def test_sentences_are_built_from_the_numbers():
    first = " ".join(scenario_sentences(ASYNC_WINS))
    second = " ".join(scenario_sentences(SYNC_WINS))
    assert first != second
    assert "async's signup p95 was 7.0 ms against 5,005 ms for sync (715× faster)" in first
    assert "async's signup p95 was 5,005 ms against 7.0 ms for sync (715× slower)" in second
    assert "rose from 4.0 ms (healthy) to 5,005 ms (slow) for sync" in first
    assert "stayed at 4.0 ms for async" in first
    assert "async 3 lost of 100" in second


def test_close_figures_and_zeros_are_ties():
    assert compare({"a": 100.0, "b": 105.0}, floor=1.0)[0] == TIE
    assert compare({"a": 0.0, "b": 0.0}, floor=0.0)[0] == TIE
    assert compare({"a": 0.0, "b": 3.0}, floor=0.0)[0] == "a"
    assert compare({"a": 2.0, "b": None}, floor=0.0)[0] is None
    verdict = _by_key(ASYNC_WINS)["emails_lost"]
    assert (verdict.winner, verdict.factor) == (TIE, "both 0")
    assert _by_key(SYNC_WINS)["emails_lost"].factor == "0 vs 3"


def test_designs_tied_for_the_lead_win_jointly():
    values = {"sync": 5005.0, "async-w1": 6.8, "async-w2": 7.0}
    assert compare(values, floor=1.0) == ("async-w1 = async-w2", 5005.0 / 6.8)


def test_claims_follow_the_figures():
    first = {c.number: c.status for c in evaluate_claims(ASYNC_WINS, MANIFEST)}
    second = {c.number: c.status for c in evaluate_claims(SYNC_WINS, MANIFEST)}
    assert first[1] == SUPPORTED and second[1] == CONTRADICTED
    # async e2e 2,161 ms vs sync response 5,005 ms: completion *was* faster
    assert first[2] == CONTRADICTED and second[2] == SUPPORTED
    assert first[3] == SUPPORTED and second[3] == CONTRADICTED
    assert first[4] == second[4] == NOT_TESTED  # one worker count only
    assert first[5] == NOT_TESTED  # a slow provider (2 s < 3 s timeout) does not fail requests


def test_worker_scaling_is_tested_with_async_variants():
    two = design("async", signup_p95=7, e2e_p95=100, bystander=(4, 4))
    one = design("async", signup_p95=7, e2e_p95=100, bystander=(4, 4))
    data = Summary.model_validate(
        {"scenario": "scaling", "valid": True, "designs": {"async-w1": one, "async-w2": two}}
    )
    variants = manifest({"async-w1": 1, "async-w2": 2})
    scaled = evaluate_claims(data, variants, {"async-w1": 10.0, "async-w2": 19.0})[3]
    flat = evaluate_claims(data, variants, {"async-w1": 10.0, "async-w2": 10.5})[3]
    assert scaled.status == SUPPORTED
    assert flat.status == CONTRADICTED
    assert "async-w2 (2 workers) 19.0/s" in scaled.evidence


def test_run_level_claims_combine_scenarios():
    claims = {
        "a": evaluate_claims(ASYNC_WINS, MANIFEST),
        "b": evaluate_claims(SYNC_WINS, MANIFEST),
    }
    combined = {number: status for number, _, status, _ in combine(claims)}
    assert combined[1] == CONTRADICTED
    assert combined[4] == NOT_TESTED


# -- uncertainty, timeouts, the floor -----------------------------------------------------------


def _with_intervals(
    summary_: Summary,
    design_name: str,
    endpoint: str,
    window: str,
    *,
    ci: tuple[float, float] | None = None,
    at_timeout: bool = False,
    unavailable: str | None = None,
    error_rate: float | None = None,
    error_ci: tuple[float, float] | None = None,
) -> None:
    """Give one window of one design the figures a fresh summary.json carries."""
    block = summary_.designs[design_name].endpoint(endpoint)
    stats = block.overall if window == "overall" else block.phases[window]
    latency = stats.latency_ms
    if ci is not None:
        latency.ci = {"p95": Interval(low=ci[0], high=ci[1])}
    if at_timeout:
        latency.at_timeout = ["p95", "p99", "p99_9"]
    if unavailable:
        latency.unavailable = {"p95": unavailable}
    if error_rate is not None:
        stats.error_rate = error_rate
    if error_ci is not None:
        stats.error_rate_ci = Interval(low=error_ci[0], high=error_ci[1])


def _fresh(sync_p95: float, async_p95: float, sync_bystander: float = 4) -> Summary:
    data = summary(
        design("sync", signup_p95=sync_p95, e2e_p95=100, bystander=(4, sync_bystander)),
        design("async", signup_p95=async_p95, e2e_p95=100, bystander=(4, 4)),
    )
    data.client_timeout_s = 5.0
    return data


def test_overlapping_intervals_are_no_clear_difference_even_beyond_the_tie_margin():
    data = _fresh(8.0, 5.8)  # 1.4× apart, but from few requests
    _with_intervals(data, "sync", "signup", "overall", ci=(5.0, 11.0))
    _with_intervals(data, "async", "signup", "overall", ci=(4.9, 9.0))
    verdict = _by_key_of(data)["signup_p95_ms"]
    assert verdict.winner == TIE == "no clear difference"
    assert verdict.factor == "95% intervals overlap"
    assert verdict.figures == {"sync": "8.0 ms [5.0–11 ms]", "async": "5.8 ms [4.9–9.0 ms]"}


def test_separate_intervals_beyond_the_margin_name_a_winner():
    data = _fresh(80.0, 5.8)
    _with_intervals(data, "sync", "signup", "overall", ci=(70.0, 95.0))
    _with_intervals(data, "async", "signup", "overall", ci=(5.1, 6.6))
    verdict = _by_key_of(data)["signup_p95_ms"]
    assert (verdict.winner, verdict.factor) == ("async", "14× lower")


def test_separate_intervals_within_the_tie_margin_are_no_clear_difference():
    data = _fresh(100.0, 105.0)
    _with_intervals(data, "sync", "signup", "overall", ci=(99.0, 101.0))
    _with_intervals(data, "async", "signup", "overall", ci=(104.0, 106.0))
    assert _by_key_of(data)["signup_p95_ms"].winner == TIE


def test_differences_within_the_measurement_floor_are_no_difference():
    data = _fresh(9.0, 5.0)
    _with_intervals(data, "sync", "signup", "overall", ci=(8.8, 9.2))
    _with_intervals(data, "async", "signup", "overall", ci=(4.9, 5.1))
    assert _by_key_of(data)["signup_p95_ms"].winner == "async"
    floor = MeasurementFloor(median_ms=0.4, tail_ms=4.5)
    with_floor = {v.key: v for v in scenario_verdicts(data, floor_ms=floor)}["signup_p95_ms"]
    assert with_floor.winner == TIE
    assert with_floor.factor == "within the measurement floor (4.5 ms)"


def test_a_percentile_at_the_client_timeout_gives_no_factor_but_compares_failed_shares():
    data = _fresh(5005.0, 7.0)
    _with_intervals(
        data, "sync", "signup", "overall", at_timeout=True, error_rate=0.45, error_ci=(0.41, 0.49)
    )
    _with_intervals(data, "async", "signup", "overall", error_rate=0.0, error_ci=(0.0, 0.006))
    verdict = _by_key_of(data)["signup_p95_ms"]
    assert verdict.winner == "async"
    assert verdict.factor == "0 vs 45.0% failed"
    assert verdict.ratio is None
    assert verdict.figures["sync"] == "≥ 5 s (timeout); 45.0% [41.0–49.0%] failed"
    assert verdict.at_timeout == ["sync"]
    sentences = " ".join(scenario_sentences(data))
    assert "≥ 5 s (timeout)" in sentences
    assert "715×" not in sentences and "no factor" in sentences


def test_a_percentile_the_sample_cannot_support_is_not_available_with_the_reason():
    data = summary(
        design("sync", signup_p95=8, e2e_p95=100, bystander=(4, 9)),
        design("async", signup_p95=5, e2e_p95=100, bystander=(4, 8)),
    )
    reason = "p95 needs ≥ 200 requests, 125 measured"
    _with_intervals(data, "async", "bystander", "slow", unavailable=reason)
    verdict = _by_key_of(data)["bystander_worst_p95_ms"]
    assert verdict.winner is None
    assert verdict.figures["async"] == f"n/a ({reason})"


def test_a_bystander_p95_from_too_few_requests_is_quoted_nowhere():
    """The worst phase and the healthy one are both below the support rule: the table's
    note and the sentence say n/a with the reason instead of the unsupported figure."""
    data = summary(
        design("sync", signup_p95=8, e2e_p95=100, bystander=(4.4, 9)),
        design("async", signup_p95=5, e2e_p95=100, bystander=(4.4, 8)),
    )
    reason = "p95 needs ≥ 200 requests, 100 measured"
    for window in ("healthy", "slow"):
        _with_intervals(data, "async", "bystander", window, unavailable=reason)
    verdict = _by_key_of(data)["bystander_worst_p95_ms"]
    assert verdict.notes["async"] == "in slow; n/a in healthy: too few requests"
    assert verdict.notes["sync"] == "in slow; 4.4 ms in healthy"
    sentences = " ".join(scenario_sentences(data))
    assert f"is n/a for async (healthy: {reason}; slow: {reason})" in sentences
    assert "rose from 4.4 ms (healthy) to 9.0 ms (slow) for sync" in sentences


def test_the_ledger_counts_read_the_same_in_table_sentences_and_headline():
    data = summary(
        design("sync", signup_p95=7, e2e_p95=100, bystander=(4, 4)),
        design("async", signup_p95=7, e2e_p95=100, bystander=(4, 4), lost=3),
    )
    emails = data.designs["async"].emails
    assert emails is not None
    emails.dead_lettered, emails.duplicates = 2, 1
    assert _by_key_of(data)["emails_lost"].notes["async"] == "2 dead-lettered, 1 duplicated"
    assert "async 3 lost, 2 dead-lettered, 1 duplicated of 100" in " ".join(
        scenario_sentences(data)
    )
    headline = scenario_headline(data, set(), {})[-1].text
    assert headline.endswith("async 3 lost, 2 dead-lettered, 1 duplicated of 100 owed.")


def test_judge_lets_designs_whose_intervals_reach_the_best_share_the_lead():
    readings = {
        "sync": Reading(5005.0, 4900.0, 5100.0),
        "async-w1": Reading(6.8, 6.0, 7.5),
        "async-w2": Reading(7.9, 7.2, 9.0),
    }
    winner, ratio, joint = judge(readings, tie_floor=1.0)
    assert winner == "async-w1 = async-w2" and joint == ["async-w1", "async-w2"]
    assert ratio == 5005.0 / 6.8


def test_the_headline_says_what_happened_in_the_numbers_own_words():
    data = _fresh(5005.0, 7.0, sync_bystander=5004.0)
    _with_intervals(
        data, "sync", "signup", "overall", at_timeout=True, error_rate=0.45, error_ci=(0.41, 0.49)
    )
    data.designs["sync"].signup.overall.timeouts = 45
    data.designs["sync"].signup.overall.ok = 55
    data.designs["sync"].bystander.phases["slow"].latency_ms.max = 5004.0
    headline = scenario_headline(data, {"slow"}, {"slow": "latency 2s"})
    text = [s.text for s in headline]
    assert text[0].startswith("During slow (latency 2s, 25 s): sync timed out or failed on 45.0%")
    assert "async answered every one of its 100 signups within 7.0 ms" in text[0]
    assert "sync's waited up to the 5 s client timeout in slow" in text[1]
    assert text[2] == "No welcome email lost or duplicated in either."
    assert [s.chart for s in headline] == ["throughput", "bystanders", "ledger"]
    lost = summary(
        design("sync", signup_p95=7, e2e_p95=100, bystander=(4, 4)),
        design("async", signup_p95=7, e2e_p95=100, bystander=(4, 4), lost=3),
    )
    emails = scenario_headline(lost, set(), {})
    assert emails[0].text.startswith("With no fault: sync answered every one")
    assert (
        emails[-1].text
        == "Welcome emails: sync none missing of 100 owed; async 3 lost of 100 owed."
    )


def _by_key_of(summary_: Summary):
    return {v.key: v for v in scenario_verdicts(summary_)}


def test_repeats_are_judged_on_the_spread_between_them():
    steady = [_fresh(80.0 + i, 6.0 + 0.1 * i) for i in range(3)]
    verdict = {v.key: v for v in repeat_verdicts(steady)}["signup_p95_ms"]
    assert verdict.scenario == "slow-downstream (mean of 3 repeats)"
    assert (verdict.winner, verdict.factor) == ("async", "13× lower")
    assert verdict.figures["sync"] == "81 ms [79–83 ms]"
    noisy = [_fresh(p95, 6.0) for p95 in (5.0, 9.0, 7.0)]  # sync 7 ± 5 ms across repeats
    assert {v.key: v for v in repeat_verdicts(noisy)}["signup_p95_ms"].winner == TIE
    assert repeat_verdicts(steady[:1]) == []
