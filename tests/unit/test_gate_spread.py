"""``offload spread``: the A/A evidence read back from the gate's own run directories
(synthetic gate runs here; `make gate-aa` makes real ones). A user relies on it to say how
many gate runs failed on unchanged code and which tolerances their runner supports."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pytest

from offload.commands import spread as spread_command
from offload.errors import RunInvalid
from offload.gate.policy import MetricPolicy
from offload.gate.spread import MetricSpread, gate_run_dirs, load_gate_run, measure_spread
from offload.gate.spread_report import render_markdown
from offload.rundir.gate_run import GateRunRecord, JudgedPair
from tests.factories.rundirs import gate_run_record, scale_latencies, write_run

pytestmark = pytest.mark.unit

P50 = "designs.async.signup.overall.latency_ms.p50"


def gate_run(
    root: Path,
    name: str,
    factors: Sequence[float],
    rerun: int | None = None,
    orders: Sequence[str] = (),
    refused: int | None = None,
    side_by_side: bool = False,
    recorded: bool = True,
) -> Path:
    """A gate run directory as `offload gate --base` leaves it: one pair per factor, the
    candidate's async latencies the base's times the factor; ``rerun``: that pair was run
    again, and only its second attempt (the one the gate judged) is unchanged; ``orders``:
    which side of each pair started first ("AB": the base; all AB when not given); ``refused``:
    that pair was invalid on every attempt, so the gate refused the run; ``side_by_side``:
    both benches of each pair ran at once; ``recorded``: the gate wrote its gate-run.json (a
    gate run from before that file has only its folders: a rendezvous folder per pair when
    side by side)."""
    gate = root / name
    judged_pairs: list[JudgedPair] = []
    for number, factor in enumerate(factors, start=1):
        folders = [f"pair-{number}"]
        if rerun == number:
            folders.append(f"pair-{number}-rerun-1")
        for attempt, folder in enumerate(folders):
            judged = attempt == len(folders) - 1
            base_first = number > len(orders) or orders[number - 1] == "AB"
            write_run(
                gate / "base" / folder / "runs",
                name="20261202T100000Z",
                started_at=1764324900.0 if base_first else 1764325000.0,
            )
            write_run(
                gate / "candidate" / folder / "runs",
                name="20261202T100100Z",
                started_at=1764325000.0 if base_first else 1764324900.0,
                valid=judged and number != refused,
                variant=lambda s, _k, f=factor: scale_latencies(s, f, design="async"),
            )
            if side_by_side:
                (gate / "rendezvous" / folder).mkdir(parents=True)
            if judged and number != refused:
                order = "AB" if base_first else "BA"
                judged_pairs.append(JudgedPair(number=number, order=order, folder=folder))
    if recorded:
        orders_judged = [pair.order for pair in judged_pairs]
        status = "failed" if refused else "complete"
        record = gate_run_record(
            orders_judged, judged_pairs, side_by_side=side_by_side, status=status
        )
        record.dump(gate / GateRunRecord.FILE_NAME)
    return gate


def test_unchanged_code_gives_no_failed_run_and_the_largest_change_it_saw(tmp_path: Path):
    runs_dir = tmp_path / "runs"
    for k, factors in enumerate([(1.02, 0.98, 1.01), (0.99, 1.03, 1.0), (1.01, 1.0, 0.97)]):
        gate_run(runs_dir, f"2026120{k}T100000Z", factors)
    spread = measure_spread([load_gate_run(d) for d in gate_run_dirs([runs_dir])])

    assert spread.runs_failed == 0 and spread.pairs == 9
    p50 = next(m for m in spread.metrics if m.policy.metric == P50)
    assert len(p50.changes) == 9
    assert max(p50.changes) == pytest.approx(0.03) and min(p50.changes) == pytest.approx(-0.03)
    page = render_markdown(spread)
    assert "0 of 3 gate runs failed on unchanged code" in page
    assert "+3.0%" in page


def test_a_gate_run_that_would_fail_is_counted_with_the_check_it_fails(tmp_path: Path):
    gate_run(tmp_path, "20261201T100000Z", (1.0, 1.01, 0.99))
    gate_run(tmp_path, "20261202T100000Z", (2.0, 2.1, 1.9))
    spread = measure_spread([load_gate_run(d) for d in gate_run_dirs([tmp_path])])

    assert spread.runs_failed == 1
    failed = [run for run in spread.runs if run.failed]
    assert failed[0].directory.name == "20261202T100000Z"
    assert any("async.signup.p50" in check for check in failed[0].failed)
    p50 = next(m for m in spread.metrics if m.policy.metric == P50)
    assert p50.runs_failed == 1 and p50.pairs_beyond == 3


def test_a_pair_run_again_is_read_from_the_attempt_the_gate_judged(tmp_path: Path):
    gate = gate_run(tmp_path, "20261202T100000Z", (1.0, 1.05, 1.0), rerun=2)
    run = load_gate_run(gate)
    assert [pair.number for pair in run.pairs] == [1, 2, 3]
    assert run.pairs[1].candidate.path.parent.parent.name == "pair-2-rerun-1"


def test_a_gate_run_the_gate_refused_or_did_not_finish_is_skipped_not_judged(
    tmp_path: Path, capsys
):
    """A refused run (a pair invalid twice: exit 2) or an interrupted one gave no verdict;
    judged on its other pairs it would count as a run that missed a known change."""
    runs = tmp_path / "runs"
    gate_run(runs, "20261202T100000Z", (2.0, 2.0, 2.0))
    gate_run(runs, "20261202T110000Z", (2.0, 2.0, 2.0), rerun=3, refused=3)
    interrupted = gate_run(runs, "20261202T120000Z", (2.0, 2.0, 2.0))
    for side in ("base", "candidate"):
        for run_dir in (interrupted / side / "pair-3" / "runs").iterdir():
            (run_dir / "slow-downstream" / "summary.json").unlink()
    with pytest.raises(RunInvalid, match="pair 3 was invalid on its last attempt"):
        load_gate_run(runs / "20261202T110000Z")
    args = argparse.Namespace(gate_runs=[runs], markdown=None, known_change="2x")
    assert spread_command.run(args) == 0
    out = capsys.readouterr().out
    assert out.count("skipped gate run") == 2
    assert "1 of 1 gate runs caught the change" in " ".join(out.split())


def test_a_folder_without_gate_runs_is_refused_by_name(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunInvalid, match="empty: not a gate run directory"):
        gate_run_dirs([tmp_path / "empty"])


def test_the_command_writes_the_table_as_markdown(tmp_path: Path, capsys):
    gate_run(tmp_path / "runs", "20261202T100000Z", (1.0, 1.02, 0.99))
    page = tmp_path / "spread.md"
    code = spread_command.run(
        argparse.Namespace(gate_runs=[tmp_path / "runs"], markdown=page, known_change=None)
    )
    assert code == 0
    assert "0 of 1 gate runs failed" in page.read_text()
    assert "0 of 1 gate runs failed on unchanged code" in capsys.readouterr().out


def test_with_a_known_change_the_runs_that_failed_are_the_ones_that_caught_it(tmp_path: Path):
    gate_run(tmp_path, "20261201T100000Z", (1.5, 1.6, 1.4))  # caught
    gate_run(tmp_path, "20261202T100000Z", (1.5, 0.9, 1.4))  # one pair contradicts: missed
    spread = measure_spread([load_gate_run(d) for d in gate_run_dirs([tmp_path])])
    page = render_markdown(spread, known_change="async API +50 %")
    assert "1 of 2 gate runs caught the change (async API +50 %)" in page
    assert "Suggested tolerance" not in page


def test_a_candidate_side_that_is_always_a_little_worse_is_called_a_side_difference(
    tmp_path: Path,
):
    """Within every tolerance, so no gate run fails; but 12 of 12 pairs worse on unchanged
    code is not chance: something about how the sides run differs."""
    for k in range(4):
        gate_run(tmp_path, f"2026120{k}T100000Z", (1.03, 1.04, 1.02))
    spread = measure_spread([load_gate_run(d) for d in gate_run_dirs([tmp_path])])
    assert spread.runs_failed == 0
    p50 = next(m for m in spread.metrics if m.policy.metric == P50)
    assert p50.candidate_worse == (12, 12)
    assert p50.side_bias_p is not None and p50.side_bias_p < 0.001
    page = render_markdown(spread)
    assert "better more often than chance allows" in page
    assert "async.signup.p50 (candidate worse in 12 of 12)" in page


def test_a_second_bench_that_is_always_a_little_worse_is_called_an_order_effect(
    tmp_path: Path,
):
    """The bench run second in each pair is 3 % slower, whichever side it is: the candidate
    is worse in half the pairs (no side bias), but 12 of 12 second benches were worse."""
    slower = 1.03
    for k, orders in enumerate([("AB", "BA", "AB"), ("BA", "AB", "BA")] * 2):
        factors = [slower if order == "AB" else 1 / slower for order in orders]
        gate_run(tmp_path, f"2026120{k}T100000Z", factors, orders=orders)
    spread = measure_spread([load_gate_run(d) for d in gate_run_dirs([tmp_path])])
    p50 = next(m for m in spread.metrics if m.policy.metric == P50)
    assert p50.candidate_worse == (6, 12) and (p50.side_bias_p or 0) > 0.5
    assert p50.second_worse == (12, 12)
    assert p50.order_bias_p is not None and p50.order_bias_p < 0.001
    page = render_markdown(spread)
    assert "better more often than chance allows" not in page
    assert "async.signup.p50 (second bench worse in 12 of 12)" in page
    assert "an order effect" in page


@pytest.mark.parametrize("recorded", [True, False], ids=["gate-run.json", "before gate-run.json"])
def test_side_by_side_pairs_have_no_second_bench_so_no_order_effect_is_claimed(
    tmp_path: Path, recorded: bool
):
    """Side by side, "which started first" is a matter of milliseconds: the same pairs that
    read as an order effect one after the other must not read as one here."""
    slower = 1.03
    for k, orders in enumerate([("AB", "BA", "AB"), ("BA", "AB", "BA")] * 2):
        factors = [slower if order == "AB" else 1 / slower for order in orders]
        gate_run(
            tmp_path, f"2026120{k}T100000Z", factors, orders=orders, side_by_side=True,
            recorded=recorded,
        )  # fmt: skip
    spread = measure_spread([load_gate_run(d) for d in gate_run_dirs([tmp_path])])
    p50 = next(m for m in spread.metrics if m.policy.metric == P50)
    assert p50.second_worse == (0, 0) and p50.order_bias_p is None
    page = render_markdown(spread)
    assert "an order effect" not in page
    assert "— (side by side)" in page
    assert "measured side by side (both benches at once" in page


def metric(changes: list[float], min_delta: float = 0.0) -> MetricSpread:
    policy = MetricPolicy(
        metric=P50, direction="lower", kind="relative", tolerance=0.2, min_delta=min_delta
    )
    spread = MetricSpread("ci-gate", policy, "async.signup.p50")
    spread.changes = changes
    spread.differences = [c * 10 for c in changes]  # a 10 ms base
    return spread


def test_a_runner_whose_pairs_stay_within_5_percent_supports_a_tight_tolerance():
    quiet = metric([0.04, -0.03, 0.02, -0.05, 0.01, 0.03, -0.02, 0.05, -0.04, 0.0])
    assert quiet.false_positive_rate(0.05, 3) == 0.0
    assert quiet.suggested_tolerance(3, 0.005) == 0.05


def test_a_runner_whose_pairs_often_move_by_a_third_needs_a_wider_one():
    noisy = metric([0.35, 0.3, 0.4, -0.3, 0.33, 0.1, 0.38, -0.2, 0.31, 0.36])
    assert noisy.false_positive_rate(0.2, 3) > 0.1
    suggested = noisy.suggested_tolerance(3, 0.005)
    assert suggested is not None and suggested >= 0.4


def test_min_delta_keeps_a_small_absolute_change_from_counting():
    small = metric([0.5, 0.5, 0.5], min_delta=10.0)  # +5 ms each, under a 10 ms floor
    assert small.false_positive_rate(0.2, 3) == 0.0


def test_the_gate_runs_record_decides_order_and_mode_not_folders_or_start_times(tmp_path: Path):
    """Start times say "base first" and a stray rendezvous folder says "side by side"; the
    gate's record says the candidate ran first, one at a time: the record is what happened."""
    gate = gate_run(tmp_path, "20261202T100000Z", (1.0, 1.0))
    (gate / "rendezvous" / "pair-1").mkdir(parents=True)
    judged = [JudgedPair(number=n, order="BA", folder=f"pair-{n}") for n in (1, 2)]
    record = gate_run_record(["BA", "BA"], judged, side_by_side=False)
    record.dump(gate / GateRunRecord.FILE_NAME)

    run = load_gate_run(gate)

    assert [pair.order for pair in run.pairs] == ["BA", "BA"]
    assert not run.side_by_side


def test_a_gate_run_still_running_or_interrupted_is_not_judged(tmp_path: Path):
    gate = gate_run(tmp_path, "20261202T100000Z", (1.0, 1.0))
    record = GateRunRecord.in_folder(gate)
    record.status = "interrupted"
    record.dump(gate / GateRunRecord.FILE_NAME)
    with pytest.raises(RunInvalid, match="the gate run is interrupted: not judged"):
        load_gate_run(gate)
