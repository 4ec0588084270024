"""Waking on time: how the open-loop generator sends each request within a fraction of a ms.

gevent's loop (libev on epoll) cannot time a wake-up finer than a millisecond: epoll waits
whole milliseconds, libev rounds a wait up to the next one and never waits less than 1 ms,
so ``gevent.sleep`` wakes 0.1–1 ms late, more at low rates. And a process that slept between
arrivals needs a further ~0.2 ms to get going: the greenlet started to send is cold (measured
on this machine kind; docs/measurement.md). Two steps remove both:

1. :class:`Alarm` wakes the scheduling greenlet shortly before an arrival with a Linux
   ``timerfd``. The hub watches it like any socket: the kernel times it to microseconds, and
   it wakes the loop whatever the loop's own millisecond timeout.
2. The sender greenlet, started then, covers the last stretch itself with
   :func:`wait_precisely`: it yields to the loop until the arrival is due. Each yield is
   ``gevent.idle()``, which returns only after the loop has polled its sockets, so answers
   arriving meanwhile are read on time; the wait only keeps the process awake. The greenlet
   awake at the due time is the one that sends: there is no hand-over after it.

The cost is bounded by :func:`lead_for`: the precise wait before an arrival lasts at most
``PRECISE_WAIT_MAX_S`` and at most ``PRECISE_WAIT_SHARE`` of the gap since the previous
arrival, so together the waits fill at most that share of the run: a tenth of one core at
most, whatever the rate (at high rates the gaps are short and so are the waits).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time

import gevent
from gevent.socket import wait_read

__all__ = [
    "PRECISE_WAIT_MAX_S",
    "PRECISE_WAIT_SHARE",
    "Alarm",
    "Pacer",
    "lead_for",
    "wait_precisely",
]

#: the longest precise wait before one arrival: covers the timerfd's wake-up jitter
#: (p99 about 0.45 ms on this machine kind when the process was idle)
PRECISE_WAIT_MAX_S = 0.0005
#: the largest share of the time between arrivals spent in precise waits (of one core)
PRECISE_WAIT_SHARE = 0.1


def lead_for(gap_s: float) -> float:
    """How long before an arrival to wake, given the seconds since the previous one."""
    return min(PRECISE_WAIT_MAX_S, PRECISE_WAIT_SHARE * max(gap_s, 0.0))


def wait_precisely(instant: float) -> float:
    """Yield to the loop until ``time.perf_counter()`` reaches ``instant``; the seconds spent.

    Never blocks the loop: every turn lets it poll sockets and run what is ready first.
    """
    start = now = time.perf_counter()
    while now < instant:
        gevent.idle()
        now = time.perf_counter()
    return now - start


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC


class Alarm:
    """Wakes the calling greenlet at a ``time.perf_counter()`` instant, to about 0.1–0.2 ms.

    Uses one timerfd (Linux), re-armed for each wait; elsewhere it falls back to
    ``gevent.sleep`` and its millisecond resolution. Python 3.13's ``os.timerfd_settime``
    can replace the ctypes calls once 3.13 is the oldest Python supported.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        if sys.platform == "linux":
            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "timerfd_create failed")
            self._fd = fd
            self._spec = _Itimerspec()

    @property
    def precise(self) -> bool:
        """True when a kernel timer wakes the loop (else ``gevent.sleep``: about 1 ms)."""
        return self._fd is not None

    def wait_until(self, instant: float) -> None:
        """Block this greenlet (not the loop) until ``instant``; return at once if it passed."""
        delay = instant - time.perf_counter()
        if delay <= 0:
            return
        if self._fd is None:
            gevent.sleep(delay)
            return
        whole = int(delay)
        self._spec.it_value.tv_sec = whole
        self._spec.it_value.tv_nsec = max(1, int((delay - whole) * 1e9))  # 0 would disarm
        if self._libc.timerfd_settime(self._fd, 0, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        wait_read(self._fd)
        with contextlib.suppress(BlockingIOError):  # nothing to read after a spurious wake-up
            os.read(self._fd, 8)  # the expiry count: reading it clears the readiness

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Pacer:
    """Both steps for one schedule: the scheduler calls :meth:`wake_before` for each arrival,
    then starts its sender, which calls :meth:`wait_until_due` right before sending."""

    def __init__(self) -> None:
        self._alarm = Alarm()
        self._previous_due = float("-inf")

    def wake_before(self, due: float) -> None:
        """Block the scheduler until shortly before ``due`` (arrivals come in time order)."""
        self._alarm.wait_until(due - lead_for(due - self._previous_due))
        self._previous_due = due

    def wait_until_due(self, due: float) -> float:
        """Wait out the rest precisely (in the sender); the seconds it took."""
        return wait_precisely(due)

    def close(self) -> None:
        self._alarm.close()
