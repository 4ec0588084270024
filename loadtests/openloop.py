"""An open-loop load generator on Locust: requests leave on schedule, answered or not.

Locust's ``wait_time`` is closed-loop: a user waits for an answer before sending the next
request, so a stalled server is sent less load and its stall hides in the statistics
(coordinated omission). Here one user runs a precomputed arrival schedule instead: it
wakes just before each request is due (``loadtests.pacing``: a kernel timer, then a bounded
precise wait in the sender) and starts it in a bounded pool of greenlets, and every latency
is measured from the *scheduled* time. When the pool is full, the request
starts late (recorded as ``waited_for_slot``), and one that cannot start within
``max_start_delay_s`` of its schedule is dropped and recorded as such, like k6's
``dropped_iterations``.

Subclasses say what to send (``request_for``) and which ids to keep from an answer
(``ids_from_response``); ``loadtests.signup`` is the one the harness uses.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import gevent
import gevent.pool
from locust import User, task
from locust.contrib.fasthttp import FastHttpSession, FastResponse
from locust.event import EventHook
from locust.exception import StopUser
from locust.runners import WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from loadtests.pacing import Pacer
from loadtests.plan import LoadPlan
from loadtests.prepared import PreparedRequest
from loadtests.records import (
    FLUSH_INTERVAL_S,
    ErrorClass,
    RecordWriter,
    RequestRecord,
    classify,
    unlink_failure,
)
from loadtests.schedule import Arrival, merge_streams, worker_share
from loadtests.selfmeasure import (
    GeneratorMeter,
    GeneratorStart,
    generator_report_path,
    generator_start_path,
)
from targets.common import tracing

__all__ = [
    "OpenLoopUser",
    "PreparedRequest",
    "RequestDropped",
    "host_allowed",
    "host_is_loopback",
    "worker_records_path",
]

logger = logging.getLogger(__name__)

#: how far ahead of its warm-up a plan without ``t0_epoch`` fixes t=0: set-up is not counted
#: as lag, and a harness waiting for the announced t=0 (``GeneratorStart``) has time to start
#: its samplers before the first arrival
START_LEAD_S = 0.5


class RequestDropped(Exception):
    """Reported to Locust for a request that never got an in-flight slot in time."""


def worker_records_path(plan: LoadPlan) -> Path:
    """The records file of this worker: ``requests.csv``, or ``requests.w1.csv`` for worker 1."""
    path = Path(plan.records_path)
    if plan.worker_count > 1:
        return path.with_name(f"{path.stem}.w{plan.worker_index}{path.suffix}")
    return path


class OpenLoopUser(User):
    """Runs a whole load plan from one user instance per process (run with ``-u 1``).

    Further instances in the same process stop at once with a warning, since a second
    copy of the schedule would double the rate. Distributed: one user per Locust worker
    (``-u`` = number of workers); each takes every N-th arrival of the same schedule.

    The run ends by itself: after the last arrival it waits for answers (at most
    ``timeout_s + 1``), writes the records and ``<records>.generator.json``, waits
    ``quit_grace_s`` when Locust writes its CSV files, and quits Locust. ``--run-time``
    stops it earlier; what was recorded until then is kept and the self-measurement says
    ``stopped_early``, with ``in_flight_at_stop``: requests sent but cut off unanswered
    (they have no outcome, so no record).
    """

    abstract = True
    #: the plan to run; subclasses may instead override ``load_plan``
    plan: ClassVar[LoadPlan | None] = None
    #: seconds between appends of records to the CSV file
    flush_interval_s: ClassVar[float] = FLUSH_INTERVAL_S
    #: seconds to wait after the last answer before quitting, so Locust's CSV is complete
    #: (only with ``--csv``: see ``_quit_grace``): one write interval of Locust's and a margin
    quit_grace_s: ClassVar[float] = CSV_STATS_INTERVAL_SEC + 0.25
    #: called with the environment once the plan is done and its records are written,
    #: instead of quitting Locust: a worker on another host (``loadtests.distributed``) sends
    #: its records and waits for the master, which ends the run when every worker is done
    #: (a worker that quits on its own makes the master hand its user to another worker)
    on_plan_done: ClassVar[Callable[[Any], None] | None] = None

    def __init__(self, environment) -> None:
        super().__init__(environment)
        self._finished = False
        self._slot_wait_ended = float("-inf")

    # -- what subclasses provide ------------------------------------------------------

    def load_plan(self) -> LoadPlan:
        """The plan to run; by default the ``plan`` class attribute."""
        if self.plan is None:
            raise NotImplementedError("set OpenLoopUser.plan or override load_plan()")
        return self.plan

    def request_for(self, stream: str) -> PreparedRequest:
        """The request to send for one arrival of ``stream``."""
        raise NotImplementedError

    def ids_from_response(
        self, stream: str, request: PreparedRequest, response: FastResponse
    ) -> dict[str, str]:
        """Ids to keep from a successful answer (``user_id``, ``job_id``); none by default."""
        return {}

    # -- the run ----------------------------------------------------------------------

    @task
    def run_plan(self) -> None:
        global _active_generator
        if _active_generator is not None and _active_generator is not self:
            logger.warning("one open-loop user per process runs the plan: this one stops")
            raise StopUser
        _active_generator = self
        try:
            self._run_plan()
        finally:
            _active_generator = None

    def _run_plan(self) -> None:
        plan = self._effective_plan()
        host = self.host or self.environment.host or ""
        if not host_allowed(host, plan.allowed_remote_hosts):
            logger.error(
                "refusing to send load to %r: only loopback hosts are targets unless the plan "
                "allows the host (allowed_remote_hosts: %s)",
                host,
                plan.allowed_remote_hosts,
            )
            self.environment.process_exit_code = 2
            self._request_quit()
            return
        arrivals = worker_share(merge_streams(plan), plan.worker_index, plan.worker_count)
        self._records_path = worker_records_path(plan)
        self._writer = RecordWriter(self._records_path)
        self._meter = GeneratorMeter()
        self._meter.scheduled = len(arrivals)
        self._plan = plan
        self._pool = gevent.pool.Pool(plan.max_in_flight)
        self._pacer = Pacer()
        self._session = FastHttpSession(
            host,
            request_event=EventHook(),  # private: we report to Locust ourselves, once
            user=None,
            network_timeout=plan.timeout_s,
            connection_timeout=plan.timeout_s,
            max_retries=0,
            concurrency=plan.max_in_flight,
        )
        # what exists now (Locust and its modules, the schedule, the session) lives as long
        # as the run: collected once here, then kept out of the collector's sight, so that a
        # full collection during the run scans only what the run allocated. Measured at
        # 640/s against an overloaded server: full collections of this heap took 26-42 ms
        # and found nothing to free, and made the generator late (docs/performance.md)
        gc.collect()
        gc.freeze()
        if plan.t0_epoch is not None:
            # a shared t=0: the harness applies faults against it, other workers start on it
            self._t0 = time.perf_counter() + (plan.t0_epoch - time.time())
            if self._t0 - plan.warmup_s < time.perf_counter():
                logger.warning("t0_epoch is so close that the warm-up starts late")
        else:
            self._t0 = time.perf_counter() + START_LEAD_S + plan.warmup_s
        self._t0_epoch = time.time() + (self._t0 - time.perf_counter())
        GeneratorStart(t0_epoch=self._t0_epoch, warmup_s=plan.warmup_s).write(
            generator_start_path(self._records_path)
        )
        self._meter.restart_clock()
        flusher = gevent.spawn(self._flush_periodically)
        self._stopped_early = True
        try:
            self._run_schedule(arrivals)
            self._stopped_early = False
            if not self._pool.join(timeout=plan.timeout_s + 1):
                logger.warning("%d requests still in flight at the end: abandoned", len(self._pool))
        finally:
            flusher.kill(block=False)
            self._pacer.close()
            self._finish()
        logger.info(
            "open-loop plan done: %d scheduled, %d sent, %d dropped; records in %s",
            self._meter.scheduled,
            self._meter.sent,
            self._meter.dropped,
            self._records_path,
        )
        gevent.sleep(self._quit_grace())
        if OpenLoopUser.on_plan_done is not None:
            OpenLoopUser.on_plan_done(self.environment)
            raise StopUser  # never run the plan twice
        self._request_quit()

    def _quit_grace(self) -> float:
        """Seconds to wait before quitting: Locust writes its CSV files (``--csv``) once a
        second and not at quit, so one more write must come after the last answer; a run
        without them (the measurement floor) has nothing to wait for."""
        options = self.environment.parsed_options
        if options is not None and not getattr(options, "csv_prefix", None):
            return 0.0
        return self.quit_grace_s

    def _effective_plan(self) -> LoadPlan:
        """The plan; on a distributed Locust worker, with that worker's share.

        A worker's count is the plan's ``worker_count``, else the master's
        ``--expect-workers``; its index is Locust's ``worker_index``. Independent Locust
        processes (not ``--worker``) keep the plan's own ``worker_index``.
        """
        plan = self.load_plan()
        runner = self.environment.runner
        if not isinstance(runner, WorkerRunner) or runner.worker_index < 0:
            return plan
        count = plan.worker_count
        if count == 1:
            count = int(getattr(self.environment.parsed_options, "expect_workers", 1) or 1)
        if count == 1:
            return plan
        return plan.model_copy(
            update={"worker_index": runner.worker_index % count, "worker_count": count}
        )

    def _run_schedule(self, arrivals: list[Arrival]) -> None:
        """Wake shortly before each arrival and start its sender, wait for a slot, or drop it.

        The sender waits out the last fraction of a millisecond itself and then sends, so
        no hand-over between greenlets stands between the due time and the send
        (``loadtests.pacing``). A slot is taken that fraction of a millisecond early.
        """
        plan = self._plan
        for arrival in arrivals:
            due = self._t0 + arrival.offset
            self._pacer.wake_before(due)
            request = self.request_for(arrival.stream)
            # held back by an earlier arrival's wait for a slot, after this one was due
            waited = self._slot_wait_ended > due
            if self._pool.full():
                waited = True
                deadline = due + plan.max_start_delay_s
                self._pool.wait_available(timeout=max(0.0, deadline - time.perf_counter()))
                self._slot_wait_ended = time.perf_counter()
                if self._pool.full():
                    self._record_dropped(arrival, due, request)
                    continue
            self._pool.spawn(self._send, arrival, due, waited, request)

    def _send(self, arrival: Arrival, due: float, waited: bool, request: PreparedRequest) -> None:
        self._meter.precise_wait_seconds += self._pacer.wait_until_due(due)
        sent = time.perf_counter()
        self._meter.started(sent - due, waited, len(self._pool), measured=arrival.offset >= 0)
        span = None
        if tracing.ENABLED and request.traced:
            # the trace id is the correlation id: a trace finds its row in requests.csv
            span = tracing.start_client_span(request.name)
            request = replace(request, correlation_id=tracing.trace_id_hex(span))
        headers = {**request.headers, "X-Request-ID": request.correlation_id}
        if span is not None:
            tracing.inject(headers, tracing.context_of(span))
        try:
            response = self._session.request(
                request.method, request.path, name=request.name, json=request.json, headers=headers
            )
        except gevent.GreenletExit:
            if span is not None:
                span.end()
            if not self._stopped_early:  # outlived timeout_s + 1 after the last arrival
                self._meter.abandoned += 1
                self._record(arrival, due, request, sent=sent, waited=waited, error=_abandoned())
            raise
        if span is not None:
            tracing.set_attribute(span, "http.response.status_code", response.status_code or 0)
            span.end()
        self._meter.completed += 1
        error = getattr(response, "error", None)
        self._record(
            arrival,
            due,
            request,
            sent=sent,
            waited=waited,
            response=response,
            error=error,
        )
        # a failed request's exception holds its traceback, whose frames hold the response
        # that holds the exception: a cycle only the cyclic GC frees. Past a server's capacity
        # (thousands of timeouts) those cycles made 60-240 ms GC pauses every ~3 s and the
        # generator fell behind its schedule (lag p99 99-122 ms with its CPU at 20 % of a
        # core); unlinked here, the same run's lag p99 was 4-5 ms
        unlink_failure(error)
        response.error = None

    def _record_dropped(self, arrival: Arrival, due: float, request: PreparedRequest) -> None:
        self._meter.dropped += 1
        error = RequestDropped(
            f"no free in-flight slot within {self._plan.max_start_delay_s:g}s of schedule "
            f"(max_in_flight={self._plan.max_in_flight})"
        )
        self._record(arrival, due, request, sent=None, waited=True, error=error)

    def _record(
        self,
        arrival: Arrival,
        due: float,
        request: PreparedRequest,
        *,
        sent: float | None,
        waited: bool,
        response: FastResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Keep one request's outcome and report it to Locust, timed from its schedule."""
        ended = time.perf_counter()
        status = (response.status_code or None) if response is not None else None
        if isinstance(error, RequestDropped):
            error_class = ErrorClass.DROPPED
        else:
            error_class = classify(status, error)
        ids: dict[str, str] = {}
        nbytes = 0
        if response is not None and status:
            nbytes = len(response.content or b"")
            if error_class is ErrorClass.OK:
                ids = self.ids_from_response(arrival.stream, request, response)
        self._writer.add(
            RequestRecord(
                stream=arrival.stream,
                name=request.name,
                phase="warmup" if arrival.offset < 0 else "measured",
                offset=arrival.offset,
                scheduled=self._epoch(due),
                sent=None if sent is None else self._epoch(sent),
                ended=self._epoch(ended),
                status=status,
                error_class=error_class.value,
                waited_for_slot=waited,
                correlation_id=request.correlation_id,
                user_id=ids.get("user_id", ""),
                job_id=ids.get("job_id", ""),
                bytes=nbytes,
                error_detail="" if error is None else f"{type(error).__name__}: {error}"[:200],
            )
        )
        self.environment.events.request.fire(
            request_type=request.method,
            name=request.name,
            response_time=(ended - due) * 1000.0,
            response_length=nbytes,
            response=response,
            context={"stream": arrival.stream, "correlation_id": request.correlation_id},
            exception=error,
            start_time=self._epoch(due),
            url=request.path,
        )

    def _epoch(self, perf: float) -> float:
        return self._t0_epoch + (perf - self._t0)

    def _flush_periodically(self) -> None:
        while True:
            gevent.sleep(self.flush_interval_s)
            self._writer.flush()

    def _finish(self) -> None:
        """Kill what is left, write the last records and the self-measurement (once)."""
        if self._finished:
            return
        self._finished = True
        # stopped early (--run-time, an interrupt): what is still in flight has no outcome
        # and gets no record; the self-measurement counts it, so that sent = records of
        # sent requests + in_flight_at_stop, and nothing vanishes without a trace
        in_flight_at_stop = self._meter.sent - self._meter.completed - self._meter.abandoned
        if self._stopped_early:
            self._pool.kill(block=False)
            if in_flight_at_stop:
                logger.warning(
                    "the run was stopped with %d requests in flight: sent, never answered, "
                    "not recorded",
                    in_flight_at_stop,
                )
        else:
            self._pool.kill(block=True, timeout=1)
            in_flight_at_stop = 0
        self._writer.flush()
        plan = self._plan
        report = self._meter.write(
            generator_report_path(self._records_path),
            records_path=str(self._records_path),
            t0_epoch=round(self._t0_epoch, 6),
            duration_s=plan.duration_s,
            warmup_s=plan.warmup_s,
            max_in_flight=plan.max_in_flight,
            timeout_s=plan.timeout_s,
            worker_index=plan.worker_index,
            worker_count=plan.worker_count,
            stopped_early=self._stopped_early,
            in_flight_at_stop=in_flight_at_stop,
        )
        for warning in report.warnings:
            logger.warning("generator: %s", warning)

    def _request_quit(self) -> None:
        """Quit from another greenlet: quitting kills this one, which must not be mid-quit."""
        runner = self.environment.runner
        options = self.environment.parsed_options
        if options is not None and not getattr(options, "headless", True):
            gevent.spawn(runner.stop)
        else:
            gevent.spawn(runner.quit)
        gevent.sleep(self.quit_grace_s + 60)  # killed by the quit long before this ends
        raise StopUser  # never run the plan twice


def _abandoned() -> TimeoutError:
    """The error recorded for a request still unanswered long after its timeout."""
    return TimeoutError("no answer within timeout_s + 1 after the last arrival: abandoned")


#: the user running the plan in this process, if any
_active_generator: OpenLoopUser | None = None


def host_is_loopback(host: str) -> bool:
    """True when ``host`` (a URL or a bare name) is 127.0.0.0/8, ::1 or localhost."""
    hostname = urlparse(host).hostname if "://" in host else host
    if not hostname:
        return False
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, allowed_remote_hosts: list[str]) -> bool:
    """Loopback, or a host the plan names in ``allowed_remote_hosts`` (given by a harness
    the user told to reach it)."""
    if host_is_loopback(host):
        return True
    hostname = urlparse(host).hostname if "://" in host else host
    return bool(hostname) and hostname in allowed_remote_hosts
