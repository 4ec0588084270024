"""Side-by-side benches: the rendezvous that gives their loads one t=0, and the refusals of
``offload bench --rendezvous`` before anything starts.

The gate's side-by-side pairs rest on this: a pair whose two loads started seconds apart would
carry the machine's drift again, and a bench left waiting for a partner that never comes would
hold the gate for its whole timeout.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from offload.cli import main
from offload.run.rendezvous import CLOSED, Rendezvous, RendezvousFailed


def _agree_in_thread(
    rendezvous: Rendezvous, key: str, proposed: float, out: dict[str, float | Exception]
) -> threading.Thread:
    def agree() -> None:
        try:
            out[rendezvous.party] = rendezvous.agree_t0(key, proposed)
        except Exception as exc:
            out[rendezvous.party] = exc

    thread = threading.Thread(target=agree)
    thread.start()
    return thread


def test_two_benches_agree_on_the_later_t0(tmp_path: Path) -> None:
    out: dict[str, float | Exception] = {}
    first = Rendezvous(tmp_path, party="base", timeout_s=10)
    second = Rendezvous(tmp_path, party="candidate", timeout_s=10)
    waiting = _agree_in_thread(first, "ci-gate.async", 1000.0, out)
    time.sleep(0.2)  # the first waits: it cannot start before its partner proposed
    assert "base" not in out
    _agree_in_thread(second, "ci-gate.async", 1002.5, out).join(5)
    waiting.join(5)
    assert out == {"base": 1002.5, "candidate": 1002.5}


def test_each_design_meets_on_its_own(tmp_path: Path) -> None:
    """The sync design's meeting does not count for the async design's."""
    out: dict[str, float | Exception] = {}
    threads = [
        _agree_in_thread(Rendezvous(tmp_path, party="a", timeout_s=0.5), "s.sync", 1.0, out),
        _agree_in_thread(Rendezvous(tmp_path, party="b", timeout_s=0.5), "s.async", 2.0, out),
    ]
    for thread in threads:
        thread.join(5)
    assert all(isinstance(value, RendezvousFailed) for value in out.values()), out
    assert "1 of 2 arrived" in str(out["a"])


def test_a_partner_that_gave_up_stops_the_wait_at_once(tmp_path: Path) -> None:
    out: dict[str, float | Exception] = {}
    waiting = _agree_in_thread(Rendezvous(tmp_path, party="base", timeout_s=60), "k", 1.0, out)
    time.sleep(0.1)
    started = time.monotonic()
    Rendezvous(tmp_path, party="candidate").abandon("k")
    waiting.join(5)
    assert time.monotonic() - started < 2
    assert isinstance(out["base"], RendezvousFailed)
    assert "gave up before its load started (candidate" in str(out["base"])


def test_a_partner_whose_bench_ended_stops_the_wait(tmp_path: Path) -> None:
    """The gate closes the folder once one bench has ended: a design that bench never ran
    must not hold the other for the whole timeout."""
    out: dict[str, float | Exception] = {}
    waiting = _agree_in_thread(Rendezvous(tmp_path, party="base", timeout_s=60), "k", 1.0, out)
    time.sleep(0.1)
    (tmp_path / CLOSED).touch()
    waiting.join(5)
    assert isinstance(out["base"], RendezvousFailed)
    assert "ended before this design's load" in str(out["base"])


def test_abandoning_after_joining_changes_nothing(tmp_path: Path) -> None:
    """run_design abandons in its ``finally``: after a run that met, that must not stop the
    partner's wait for a later design."""
    out: dict[str, float | Exception] = {}
    mine = Rendezvous(tmp_path, party="base", timeout_s=5)
    waiting = _agree_in_thread(mine, "k", 5.0, out)
    Rendezvous(tmp_path, party="candidate", timeout_s=5).agree_t0("k", 4.0)
    waiting.join(5)
    mine.abandon("k")
    assert not list(tmp_path.glob("*/*.abandoned"))
    assert out["base"] == 5.0


def test_a_rendezvous_of_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2 parties"):
        Rendezvous(tmp_path, parties=1)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--rendezvous-parties", "1"], "--rendezvous-parties must be at least 2"),
        (
            ["--load-workers", "1", "--master-bind", "127.0.0.1:5557"],
            "--rendezvous and --master-bind cannot be combined",
        ),
    ],
)
def test_bench_refuses_a_rendezvous_it_cannot_keep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    reports = tmp_path / "reports"
    code = main(
        ["bench", "--scenario", "baseline", "--rendezvous", str(tmp_path / "meet"),
         "--reports-dir", str(reports), "--no-floor", "--no-report", *extra]
    )  # fmt: skip
    assert code == 2
    printed = capsys.readouterr()
    assert says in printed.out + printed.err
    assert not reports.exists()


def test_bench_refuses_a_rendezvous_with_an_external_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both sides would load the one system they share: a pair of nothing."""
    scenario = tmp_path / "external.yaml"
    example = Path(__file__).parents[2] / "targets" / "examples" / "external-async"
    scenario.write_text(
        f"name: external\nload: {{rate: 5/s, duration: 5s}}\ntargets: [{{target: {example}}}]\n"
    )
    reports = tmp_path / "reports"
    code = main(
        ["bench", "--scenario", str(scenario), "--rendezvous", str(tmp_path / "meet"),
         "--reports-dir", str(reports), "--no-floor", "--no-report"]
    )  # fmt: skip
    assert code == 2
    assert "is an external target, which both would share" in capsys.readouterr().err
    assert not reports.exists()
