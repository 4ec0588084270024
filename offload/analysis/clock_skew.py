"""Is every remote load worker's clock close enough to the master's to trust the run?

A worker on another host starts its share of the schedule at the shared t=0 *on its own
clock*. A constant offset does not change a request's latency from its scheduled time (both
ends are the worker's clock), but it shifts every figure that compares a worker's times with
another host's: the end-to-end latency (the provider's delivery time minus the worker's
scheduled time), the phase a request falls in relative to a fault the harness applied on the
master's clock, and how the workers' arrivals interleave in the merged stream.

The bound, :data:`MAX_CLOCK_SKEW_S` = 5 ms, is a few times the generator's own timing error
(lateness p99 at most 1.3 ms at 1,000 requests/s, measured: docs/scale-out.md), so a run
within it adds no more error across hosts than the generator has on one; NTP keeps the
clocks of hosts on one LAN within a millisecond or two, so the bound fails only hosts whose
clocks are not being kept. The offset is measured at join with an uncertainty of half the
round trip; a worker is judged on ``|offset| + round trip / 2``, the largest skew the
measurement cannot rule out.
"""

from __future__ import annotations

from loadtests.multihost import WorkerClock

#: the largest clock skew between a remote worker and the master a valid run may have
MAX_CLOCK_SKEW_S = 0.005


def invalid_reasons(design: str, workers: list[WorkerClock]) -> list[str]:
    """Why the run is invalid because of a worker's clock (none when every one is within)."""
    reasons = []
    for worker in workers:
        where = f"{design}: load worker {worker.index} ({worker.client_id})"
        offset, round_trip = worker.offset_s, worker.round_trip_s
        if offset is None or round_trip is None:
            reasons.append(f"{where}: its clock offset was never measured")
        elif abs(offset) + round_trip / 2 > MAX_CLOCK_SKEW_S:
            reasons.append(
                f"{where}: clock skew {offset * 1e3:+.2f} ms ± {round_trip / 2 * 1e3:.2f} ms "
                f"from the master's, beyond the {MAX_CLOCK_SKEW_S * 1e3:g} ms bound: every "
                "time compared across hosts is off by that much (synchronise the clocks, "
                "e.g. with NTP)"
            )
    return reasons
