"""Waking on time (``loadtests.pacing``): precise, without starving answers, at a bounded cost.

The timing tests run gevent in the test process (no server, no subprocess) but are timing
tests all the same: run them under the machine's heavy-command lock. Their bounds are
several times what this machine kind measures (in the comments), for a loaded CI machine,
and a trial that a descheduled process spoils (CI saw a p90 of 6.6 ms once, against
0.2 ms here) is run again, up to three times: a pacer that is really late misses every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent
import numpy as np
import pytest

from loadtests.pacing import (
    PRECISE_WAIT_MAX_S,
    PRECISE_WAIT_SHARE,
    Alarm,
    Pacer,
    lead_for,
    wait_precisely,
)


def passes_in_one_of(attempts: int, trial: Callable[[], str | None]) -> None:
    """Run a timing trial until it meets its bounds (it answers None) or fails every time
    (then the test fails with what each attempt saw)."""
    seen = []
    for _ in range(attempts):
        problem = trial()
        if problem is None:
            return
        seen.append(problem)
    pytest.fail(f"all {attempts} attempts missed: " + "; ".join(seen))


@pytest.mark.parametrize("gap_s", [1e-4, 1e-3, 2e-3, 4.9e-3, 5e-3, 0.1, 1.0, 60.0])
def test_precise_waits_take_at_most_a_tenth_of_the_time_between_arrivals(gap_s):
    lead = lead_for(gap_s)
    assert lead <= PRECISE_WAIT_SHARE * gap_s + 1e-12
    assert lead <= PRECISE_WAIT_MAX_S
    # and as long as the bound allows: long gaps get the whole precise wait
    assert lead == pytest.approx(min(PRECISE_WAIT_MAX_S, 0.1 * gap_s))


def test_the_first_arrival_gets_the_whole_precise_wait():
    assert lead_for(float("inf")) == PRECISE_WAIT_MAX_S


def test_the_alarm_wakes_within_a_fraction_of_a_millisecond():
    """gevent.sleep wakes up to ~1 ms late here; the alarm p50 0.17 ms, p99 0.45 ms."""

    def trial() -> str | None:
        alarm = Alarm()
        assert alarm.precise, "Linux has timerfd"
        late = []
        try:
            for i in range(60):
                due = time.perf_counter() + 0.002 + 0.0001 * (i % 10)
                alarm.wait_until(due)
                late.append(time.perf_counter() - due)
        finally:
            alarm.close()
        assert min(late) >= 0, "never early"
        p50, p90 = np.percentile(late, [50, 90])
        return None if p50 < 0.0006 and p90 < 0.002 else f"p50 {p50:.4f} s, p90 {p90:.4f} s"

    passes_in_one_of(3, trial)


def test_an_alarm_in_the_past_returns_at_once():
    alarm = Alarm()
    started = time.perf_counter()
    alarm.wait_until(started - 1)
    alarm.close()
    assert time.perf_counter() - started < 0.001


def test_a_precise_wait_ends_on_time_and_never_early():
    spent = []
    for _ in range(20):
        due = time.perf_counter() + 0.0005
        spent.append(wait_precisely(due))
        assert time.perf_counter() >= due  # never early, whatever the machine does
    # on time: a 2-core machine may deschedule the process once in a while (a 3.5 ms wait
    # was seen under a full test run), so the bound is on the typical wait and on most waits
    assert min(spent) >= 0.0004
    assert np.percentile(spent, 50) < 0.001
    assert sum(s < 0.003 for s in spent) >= 18


def test_a_precise_wait_lets_other_greenlets_handle_what_arrives_meanwhile():
    """While a sender waits precisely for 50 ms, another greenlet's file descriptor (a
    timerfd here, as ready as an answer on a socket) is still served within a millisecond
    or two, not after the wait."""

    def trial() -> str | None:
        woken_late: list[float] = []

        def other(due: float) -> None:
            alarm = Alarm()
            try:
                alarm.wait_until(due)
                woken_late.append(time.perf_counter() - due)
            finally:
                alarm.close()

        started = time.perf_counter()
        others = [gevent.spawn(other, started + 0.005 * k) for k in range(1, 9)]
        wait_precisely(started + 0.05)
        gevent.joinall(others, timeout=1)
        assert len(woken_late) == 8
        return None if max(woken_late) < 0.003 else f"latest {max(woken_late):.4f} s"

    passes_in_one_of(3, trial)


def test_a_pacer_hands_each_arrival_to_its_sender_on_time():
    """The generator's two steps together, without HTTP: p50 ~0.01 ms, p90 ~0.2 ms here."""

    def trial() -> str | None:
        pacer = Pacer()
        late: list[float] = []
        senders = []

        def send(due: float) -> None:
            pacer.wait_until_due(due)
            late.append(time.perf_counter() - due)

        gevent.sleep(0)  # the hub starts on first use, in ~50 ms: not part of the schedule
        start = time.perf_counter() + 0.01
        try:
            for i in range(100):
                due = start + i * 0.005  # 200/s
                pacer.wake_before(due)
                senders.append(gevent.spawn(send, due))
            gevent.joinall(senders, timeout=2)
        finally:
            pacer.close()
        assert len(late) == 100 and min(late) >= 0
        p50, p90 = np.percentile(late, [50, 90])
        return None if p50 < 0.0005 and p90 < 0.002 else f"p50 {p50:.4f} s, p90 {p90:.4f} s"

    passes_in_one_of(3, trial)
