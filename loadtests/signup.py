"""Signup load for both reference designs: open-loop by default, closed-loop for comparison.

Runnable by hand with a plan file or plain options::

    locust -f loadtests/signup.py --headless --host http://127.0.0.1:8000 -u 1 -r 1 \\
        --run-time 70s --plan plan.json
    locust -f loadtests/signup.py --headless --host http://127.0.0.1:8000 -u 1 -r 1 \\
        --run-time 70s --rate 40 --duration 60 --arrivals poisson --bystander-rate 10 \\
        --timeout 5 --max-in-flight 1000 --records requests.csv

Streams: ``signup`` posts a new user (a unique address; ``--poison-fraction`` of them at
``@bounce.invalid``, which the provider rejects for good); ``bystander`` alternates
``GET /users/{id}`` of a user created earlier with ``GET /healthz`` — the cheap traffic
whose latency shows whether a slow provider cascades.

``python -m loadtests.signup --help`` lists the options this file adds (Locust's own
``--help`` cannot: it does not import the locustfile, locustio/locust#2917).

``--closed-loop -u N`` runs Locust's usual closed loop instead (N users, each at
``constant_throughput``), to show what coordinated omission hides; it reports only to
Locust's own statistics.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.contrib.fasthttp import FastResponse
from locust.exception import StopUser
from locust.user.wait_time import constant_throughput

import loadtests.distributed  # noqa: F401  (workers on other hosts: plan, clocks, records)
from loadtests.closedloop import ClosedLoopRecorder
from loadtests.openloop import OpenLoopUser, host_allowed
from loadtests.plan import Arrivals, LoadPlan, PlanError, Segment, Stream, load_plan
from loadtests.prepared import PreparedRequest
from loadtests.signup_traffic import BYSTANDER, SIGNUP, SignupTraffic
from targets.common import tracing

logger = logging.getLogger(__name__)
# with OFFLOAD_TRACES_DIR set, each signup starts a trace (targets.common.tracing)
tracing.setup("generator")

#: options that describe the load without a plan file, with their defaults
_PLAIN_DEFAULTS: dict[str, Any] = {
    "rate": None,
    "duration": None,
    "warmup": 0.0,
    "arrivals": "poisson",
    "bystander_rate": 0.0,
    "timeout": 5.0,
    "max_in_flight": 1000,
    "max_start_delay": 5.0,
    "poison_fraction": 0.0,
    "records": "requests.csv",
    "seed": None,
    "worker_count": 1,
}


class OpenLoopSignupUser(OpenLoopUser):
    """The open-loop signup generator (the default). Its plan comes from the options."""

    def __init__(self, environment) -> None:
        super().__init__(environment)
        self.traffic = SignupTraffic()

    def load_plan(self) -> LoadPlan:
        """The plan checked at start-up, or (on a distributed worker) the master's options."""
        plan = (
            self.plan
            if self.plan is not None
            else plan_from_options(self.environment.parsed_options)
        )
        self.traffic.poison_fraction = plan.poison_fraction
        self.traffic.health_path = plan.health_path
        return plan

    def request_for(self, stream: str) -> PreparedRequest:
        if stream == SIGNUP:
            return self.traffic.signup()
        if stream == BYSTANDER:
            return self.traffic.bystander()
        raise ValueError(f"unknown stream {stream!r}: signup.py knows {SIGNUP!r}, {BYSTANDER!r}")

    def ids_from_response(
        self, stream: str, request: PreparedRequest, response: FastResponse
    ) -> dict[str, str]:
        return self.traffic.ids_from_signup(response) if stream == SIGNUP else {}


class ClosedLoopSignupUser(FastHttpUser):
    """For comparison only: each user waits for its answer, paced by ``constant_throughput``.

    The plan's signup and bystander rates (their first segments) are shared among the ``-u``
    users; with a plan file or ``--records`` every request is recorded like the open loop's,
    with ``scheduled`` = send time (see ``loadtests.closedloop``).
    """

    #: set once a user has asked the runner to quit (the others just stop)
    _quitting = False

    def __init__(self, environment) -> None:
        options = environment.parsed_options
        plan = _closed_loop_plan(options)
        self.network_timeout = self.connection_timeout = plan.timeout_s
        super().__init__(environment)
        users = max(1, plan.users or getattr(options, "num_users", 1) or 1)
        rates = {s.name: s.segments[0].rate_from for s in plan.streams}
        total = sum(rates.values())
        self._signup_share = rates.get(SIGNUP, 0.0) / total
        self._pacing = constant_throughput(total / users)
        self.traffic = SignupTraffic(plan.poison_fraction, health_path=plan.health_path)
        self.recorder = ClosedLoopRecorder.shared(plan)

    def wait_time(self) -> float:
        return self._pacing(self)

    def on_start(self) -> None:
        delay = self.recorder.start_epoch - time.time()
        if delay > 0:
            gevent.sleep(delay)

    @task
    def one_request(self) -> None:
        if self.recorder.over():
            self.recorder.finish()
            if not ClosedLoopSignupUser._quitting:
                # quit from a greenlet of its own: quitting kills the users, this one included
                ClosedLoopSignupUser._quitting = True
                gevent.spawn_later(2.0, self.environment.runner.quit)  # Locust's CSV completes
            raise StopUser
        stream = SIGNUP if random.random() < self._signup_share else BYSTANDER
        request = self.traffic.signup() if stream == SIGNUP else self.traffic.bystander()
        sent = time.time()
        response = self.client.request(
            request.method,
            request.path,
            name=request.name,
            json=request.json,
            headers={"X-Request-ID": request.correlation_id},
        )
        ended = time.time()
        status = response.status_code or None
        ids = {}
        if stream == SIGNUP and status in (201, 202):
            ids = self.traffic.ids_from_signup(response)
        self.recorder.record(
            stream,
            request,
            sent=sent,
            ended=ended,
            status=status,
            error=getattr(response, "error", None),
            ids=ids,
            nbytes=len(response.content or b"") if status else 0,
        )

    def on_stop(self) -> None:
        self.recorder.finish()


def _closed_loop_plan(options: Any) -> LoadPlan:
    plan = plan_from_options(options)
    if plan.users is None:
        plan = plan.model_copy(update={"mode": "closed", "users": getattr(options, "num_users", 1)})
    return plan


@events.test_stop.add_listener
def _flush_closed_loop(**_kwargs: Any) -> None:
    if ClosedLoopRecorder._shared is not None:
        ClosedLoopRecorder._shared.finish()


def _option(options: Any, name: str) -> Any:
    value = getattr(options, name, None) if options is not None else None
    return _PLAIN_DEFAULTS[name] if value is None else value


def plan_from_options(options: Any) -> LoadPlan:
    """The load plan: the ``--plan`` file, or one built from the plain options."""
    given = [name for name in _PLAIN_DEFAULTS if getattr(options, name, None) is not None]
    if getattr(options, "plan", None):
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise PlanError(f"--plan cannot be combined with {flags}: put them in the plan")
        return load_plan(options.plan)
    rate, duration = _option(options, "rate"), _option(options, "duration")
    if rate is None or duration is None:
        raise PlanError("give --plan FILE, or at least --rate and --duration")
    seed = _option(options, "seed")
    arrivals = Arrivals(_option(options, "arrivals"))
    rates = {SIGNUP: rate, BYSTANDER: _option(options, "bystander_rate")}
    streams = [
        Stream(
            name=name,
            arrivals=arrivals,
            seed=None if seed is None else seed + i,
            segments=[Segment(start_s=0, end_s=duration, rate_from=r, rate_to=r)],
        )
        for i, (name, r) in enumerate(rates.items())
        if r > 0
    ]
    if not streams:
        raise PlanError("--rate and --bystander-rate are both 0: nothing to send")
    return LoadPlan(
        streams=streams,
        warmup_s=_option(options, "warmup"),
        duration_s=duration,
        timeout_s=_option(options, "timeout"),
        max_in_flight=_option(options, "max_in_flight"),
        max_start_delay_s=_option(options, "max_start_delay"),
        poison_fraction=_option(options, "poison_fraction"),
        records_path=_option(options, "records"),
        worker_count=_option(options, "worker_count"),
    )


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    def add(*flags: str, **kwargs: Any) -> None:
        parser.add_argument(*flags, include_in_web_ui=False, default=None, **kwargs)

    add("--plan", metavar="FILE", help="offload: a JSON load plan (instead of the options below)")
    add("--rate", type=float, metavar="R", help="offload: signups per second")
    add("--duration", type=float, metavar="S", help="offload: seconds of measured load")
    add("--warmup", type=float, metavar="S", help="offload: seconds of warm-up first (0)")
    add("--arrivals", choices=[a.value for a in Arrivals], help="offload: default poisson")
    add("--bystander-rate", type=float, metavar="R", help="offload: bystander reads/s (0)")
    add("--timeout", type=float, metavar="S", help="offload: client timeout (5)")
    add("--max-in-flight", type=int, metavar="N", help="offload: concurrency bound (1000)")
    add("--max-start-delay", type=float, metavar="S", help="offload: drop if this late (5)")
    add("--poison-fraction", type=float, metavar="F", help="offload: share @bounce.invalid (0)")
    add("--records", metavar="CSV", help="offload: per-request records (requests.csv)")
    add("--seed", type=int, help="offload: Poisson seed (default: from the stream name)")
    add("--worker-count", type=int, metavar="N", help="offload: Locust workers sharing it (1)")
    parser.add_argument(
        "--closed-loop",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="offload: Locust's closed loop (-u users at constant_throughput), for comparison",
    )


@events.init.add_listener
def _check_run(environment, **_kwargs: Any) -> None:
    """Refuse bad input before any load is sent: non-loopback host, bad plan, old records."""
    options = environment.parsed_options
    if options is None:  # Environment built in code: the caller sets OpenLoopSignupUser.plan
        return
    if getattr(options, "worker", False):  # its load options arrive from the master at spawn
        return
    host = environment.host
    if host and not host_allowed(host, _allowed_remote_hosts(options)):
        _refuse(
            f"refusing --host {host}: offload sends load only to 127.0.0.1, ::1 or localhost, "
            "or to a host its --plan lists in allowed_remote_hosts"
        )
    classes = environment.user_classes
    if OpenLoopSignupUser in classes and ClosedLoopSignupUser in classes:
        keep = ClosedLoopSignupUser if options.closed_loop else OpenLoopSignupUser
        classes[:] = [keep]
    closed = ClosedLoopSignupUser in classes
    if closed and not (options.plan or options.rate or options.bystander_rate):
        _refuse("--closed-loop needs --plan or --rate (and optionally --bystander-rate)")
    if OpenLoopSignupUser not in classes:
        return
    try:
        plan = plan_from_options(options)
    except PlanError as exc:
        _refuse(str(exc))
    if getattr(options, "master", False):
        return  # validated; the workers build it again from the options the master sends
    records = plan.records_path
    if plan.worker_count == 1 and records.exists() and records.stat().st_size > 0:
        _refuse(f"records file {records} exists: remove it or pass another --records path")
    OpenLoopSignupUser.plan = plan


def _allowed_remote_hosts(options: Any) -> list[str]:
    """The plan's allowed remote hosts (none without --plan, or when the plan is unreadable:
    the plan's own check then says why)."""
    if not getattr(options, "plan", None):
        return []
    try:
        return load_plan(options.plan).allowed_remote_hosts
    except PlanError:
        return []


def _refuse(message: str) -> None:
    logger.error(message)
    raise SystemExit(2)


def main() -> None:
    """Print the options this locustfile adds: Locust's own --help never imports the
    locustfile, so it cannot list them (locustio/locust#2917)."""
    from locust.argument_parser import LocustArgumentParser

    parser = LocustArgumentParser(
        usage="locust -f loadtests/signup.py [Locust options] [offload options]",
        description="offload's signup load: the options it adds to Locust's.",
    )
    _add_options(parser)
    parser.print_help()


if __name__ == "__main__":
    main()
