"""Locust workers on other hosts: the plan, their clocks and their records travel through
Locust's own messages, so nothing has to be copied between hosts by hand.

Active on a master started with ``--distribute`` (``offload bench --master-bind``) and on
every worker (``offload load-worker``):

1. **At join** (once the worker says its hooks are ready) the master measures the worker's
   clock NTP-style: it sends its time ``t1``, the worker answers with its own ``t2``, the
   master notes the receipt ``t3``. The offset is ``t2 - (t1 + t3) / 2`` and lies within
   half the round trip ``t3 - t1`` of the truth; of :data:`CLOCK_SAMPLES` samples the one
   with the smallest round trip is kept.
2. **At the start** (every expected worker joined) the master fixes t=0
   (:data:`START_LEAD_S` ahead, plus the warm-up), sends each worker the plan with its share
   (``worker_index`` / ``worker_count``), and writes :data:`RUN_FILE` beside the records so
   the harness learns t=0. Locust delivers a connection's messages in order, so the plan
   arrives before the spawn that starts the worker's user.
3. **At the end** each worker sends its records file and its ``.generator.json`` in chunks of
   at most :data:`~loadtests.multihost.CHUNK_BYTES`, with a SHA-256 of the whole, then says
   it is done, and waits: a worker that quit on its own would make the master hand its user
   to another worker mid-run (measured: a 71 ms stall of that worker's schedule). The master
   writes each file beside its own records once every chunk arrived and the digest matches;
   when every worker is done it quits them all and rewrites :data:`RUN_FILE` with the clocks
   and the files received.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from loadtests.multihost import (
    CLOCK_SAMPLES,
    MSG_CLOCK,
    MSG_CLOCK_REPLY,
    MSG_PLAN,
    MSG_RECORDS,
    MSG_WORKER_DONE,
    MSG_WORKER_READY,
    RECEIVED_PLAN_FILE,
    RUN_FILE,
    START_LEAD_S,
    ClockSample,
    DistributedRun,
    RecordsAssembler,
    TransferError,
    WorkerClock,
    best_clock,
    chunks,
    clock_sample,
)
from loadtests.openloop import OpenLoopUser, worker_records_path
from loadtests.plan import LoadPlan, PlanError, load_plan
from loadtests.selfmeasure import generator_report_path

logger = logging.getLogger(__name__)


# -- the master -------------------------------------------------------------------------


class _Master:
    def __init__(self, environment: Any, plan: LoadPlan) -> None:
        self.environment = environment
        self.plan = plan
        self.folder = Path(plan.records_path).parent
        self.runner: MasterRunner = environment.runner
        self.samples: dict[str, list[ClockSample]] = {}
        self.workers: dict[str, WorkerClock] = {}
        self.assembler = RecordsAssembler()
        self.run: DistributedRun | None = None
        self.runner.register_message(MSG_WORKER_READY, self.on_ready)
        self.runner.register_message(MSG_CLOCK_REPLY, self.on_clock_reply)
        self.runner.register_message(MSG_RECORDS, self.on_records)
        self.runner.register_message(MSG_WORKER_DONE, self.on_done)
        self.done: set[str] = set()
        events.test_start.add_listener(self.on_start)
        events.quitting.add_listener(self.on_quit)

    def worker(self, client_id: str) -> WorkerClock:
        if client_id not in self.workers:
            index = self.runner.get_worker_index(client_id)
            self.workers[client_id] = WorkerClock(index=index, client_id=client_id)
        return self.workers[client_id]

    def on_ready(self, msg: Any, **_kw: Any) -> None:
        """A worker's hooks are in place (Locust's own join comes earlier, before a worker's
        handlers exist, so a ping then would be lost): measure its clock."""
        self.worker(msg.node_id)
        self.samples[msg.node_id] = []
        self._ping(msg.node_id)

    def _ping(self, client_id: str) -> None:
        self.runner.send_message(MSG_CLOCK, {"t1": time.time()}, client_id)

    def on_clock_reply(self, msg: Any, **_kw: Any) -> None:
        t3 = time.time()
        samples = self.samples.setdefault(msg.node_id, [])
        try:
            samples.append(clock_sample(float(msg.data["t1"]), float(msg.data["t2"]), t3))
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("unusable clock reply from %s: %s", msg.node_id, exc)
        best = best_clock(samples) if samples else None
        worker = self.worker(msg.node_id)
        if best is not None:
            worker.offset_s, worker.round_trip_s = best.offset_s, best.round_trip_s
        worker.samples = len(samples)
        if len(samples) < CLOCK_SAMPLES:
            self._ping(msg.node_id)
        else:
            logger.info(
                "worker %s (index %d): clock offset %+.3f ms, round trip %.3f ms",
                msg.node_id, worker.index, (worker.offset_s or 0) * 1e3,
                (worker.round_trip_s or 0) * 1e3,
            )  # fmt: skip

    def on_start(self, **_kw: Any) -> None:
        t0 = time.time() + START_LEAD_S + self.plan.warmup_s
        count = max(1, len(self.runner.clients))
        for client_id in list(self.runner.clients):
            worker = self.worker(client_id)
            share = self.plan.model_copy(
                update={"t0_epoch": t0, "worker_index": worker.index % count, "worker_count": count}
            )
            self.runner.send_message(MSG_PLAN, share.model_dump(mode="json"), client_id)
        self.run = DistributedRun(t0_epoch=t0, worker_count=count)
        self._write(complete=False)

    def on_records(self, msg: Any, **_kw: Any) -> None:
        worker = self.worker(msg.node_id)
        try:
            done = self.assembler.add(msg.node_id, msg.data)
        except TransferError as exc:
            logger.error("%s", exc)
            worker.transfer_errors.append(str(exc))
            return
        if done is not None:
            name, data = done
            (self.folder / name).write_bytes(data)
            worker.records_received.append(name)
            logger.info("records %s from worker %d: %d bytes", name, worker.index, len(data))

    def on_done(self, msg: Any, **_kw: Any) -> None:
        """A worker ran its share and sent its records (earlier on the same connection):
        once every worker is done, end the run for all at once."""
        self.done.add(msg.node_id)
        if self.run is not None and len(self.done) >= self.run.worker_count:
            logger.info("every worker is done: quitting")
            gevent.spawn(self.runner.quit)

    def on_quit(self, **_kw: Any) -> None:
        for sender, name in self.assembler.incomplete():
            self.worker(sender).transfer_errors.append(f"{name}: not every chunk arrived")
        self._write(complete=True)

    def _write(self, *, complete: bool) -> None:
        if self.run is None:
            return  # the run never started (no worker joined in time): nothing to say
        self.run.workers = sorted(self.workers.values(), key=lambda w: w.index)
        self.run.complete = complete
        self.run.write(self.folder / RUN_FILE)


# -- the worker -------------------------------------------------------------------------


class _Worker:
    def __init__(self, environment: Any, folder: Path) -> None:
        self.environment = environment
        self.folder = folder
        self.runner: WorkerRunner = environment.runner
        self.plan: LoadPlan | None = None
        self.runner.register_message(MSG_CLOCK, self.on_clock)
        self.runner.register_message(MSG_PLAN, self.on_plan)
        # also on test_stop (a run the master stopped early), not quitting: Locust fires
        # quitting's listeners in reverse, its own "quit" to the master first
        events.test_stop.add_listener(self.send_records)
        self.runner.send_message(MSG_WORKER_READY)

    def plan_done(self, environment: Any) -> None:
        self.send_records()
        self.runner.send_message(MSG_WORKER_DONE)

    def on_clock(self, msg: Any, **_kw: Any) -> None:
        self.runner.send_message(MSG_CLOCK_REPLY, {"t1": msg.data["t1"], "t2": time.time()})

    def on_plan(self, msg: Any, **_kw: Any) -> None:
        plan = LoadPlan.model_validate(msg.data)
        local = self.folder / Path(plan.records_path).name
        self.plan = plan.model_copy(update={"records_path": local})
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / RECEIVED_PLAN_FILE).write_text(self.plan.model_dump_json(indent=2))
        # the open-loop user runs this plan instead of building one from the master's
        # options (whose --plan path exists on the master's host only)
        OpenLoopUser.plan = self.plan
        # and, done, hands its records to this worker instead of quitting (only with a plan
        # from the master: a master without --distribute expects its workers to quit)
        OpenLoopUser.on_plan_done = self.plan_done
        logger.info(
            "plan received: worker %d of %d, t0 in %.2f s",
            self.plan.worker_index, self.plan.worker_count,
            (self.plan.t0_epoch or time.time()) - time.time(),
        )  # fmt: skip

    def send_records(self, **_kw: Any) -> None:
        """Send this worker's two files (once; nothing before the plan arrived)."""
        if self.plan is None:
            return
        records = worker_records_path(self.plan)
        for path in (records, generator_report_path(records)):
            if not path.exists():
                logger.error("no %s to send back: the run did not write it", path)
                continue
            sent = 0
            for chunk in chunks(path.name, path.read_bytes()):
                self.runner.send_message(MSG_RECORDS, chunk)
                sent += len(chunk["data"])
            logger.info("sent %s back to the master (%d bytes)", path.name, sent)
        self.plan = None  # once: test_stop fires again on quit


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--distribute",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="offload (master): send the plan to workers on other hosts, measure their "
        "clocks and collect their records, all through Locust's messages",
    )
    parser.add_argument(
        "--records-dir",
        default=None,
        include_in_web_ui=False,
        metavar="DIR",
        help="offload (worker): where this worker writes its records before sending them back",
    )


@events.init.add_listener
def _attach(environment: Any, **_kw: Any) -> None:
    options = environment.parsed_options
    runner = environment.runner
    if options is None:
        return
    if isinstance(runner, MasterRunner) and options.distribute:
        if not options.plan:
            logger.error("--distribute sends the --plan FILE to the workers: give one")
            raise SystemExit(2)
        try:
            plan = load_plan(options.plan)
        except PlanError as exc:
            logger.error("%s", exc)
            raise SystemExit(2) from None
        _Master(environment, plan)
    elif isinstance(runner, WorkerRunner) and options.records_dir:
        _Worker(environment, Path(options.records_dir))
