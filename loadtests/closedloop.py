"""Records for the closed loop, so its numbers can be set beside the open loop's.

A closed-loop user sends its next request only when the previous one answered, so there is
no schedule independent of the server: ``scheduled`` is the send time, and latency equals
service time. That is the point of offering it: under a stalling server a closed loop sends
fewer requests and reports lower percentiles (coordinated omission), and the report can show
by how much. One recorder per process, shared by its users; it writes the same CSV as the
open loop and a small self-measurement.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from loadtests.plan import LoadPlan
from loadtests.prepared import PreparedRequest
from loadtests.records import ErrorClass, RecordWriter, RequestRecord, classify
from loadtests.selfmeasure import SelfMeasurement, generator_report_path, process_cpu_seconds

__all__ = ["ClosedLoopRecorder"]


class ClosedLoopRecorder:
    _shared: ClosedLoopRecorder | None = None

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        now = time.time()
        self.t0_epoch = plan.t0_epoch if plan.t0_epoch is not None else now + plan.warmup_s
        self.end_epoch = self.t0_epoch + plan.duration_s
        self.writer = RecordWriter(Path(plan.records_path))
        self.sent = 0
        self._cpu0 = process_cpu_seconds()
        self._wall0 = time.perf_counter()
        self._finished = False

    @classmethod
    def shared(cls, plan: LoadPlan) -> ClosedLoopRecorder:
        if cls._shared is None:
            cls._shared = cls(plan)
        return cls._shared

    @property
    def start_epoch(self) -> float:
        return self.t0_epoch - self.plan.warmup_s

    def over(self) -> bool:
        return time.time() >= self.end_epoch

    def record(
        self,
        stream: str,
        request: PreparedRequest,
        *,
        sent: float,
        ended: float,
        status: int | None,
        error: BaseException | None,
        ids: dict[str, str],
        nbytes: int,
    ) -> None:
        self.sent += 1
        error_class = classify(status, error)
        self.writer.add(
            RequestRecord(
                stream=stream,
                name=request.name,
                phase="warmup" if sent < self.t0_epoch else "measured",
                offset=sent - self.t0_epoch,
                scheduled=sent,  # no schedule in a closed loop: latency == service time
                sent=sent,
                ended=ended,
                status=status,
                error_class=error_class.value,
                waited_for_slot=False,
                correlation_id=request.correlation_id,
                user_id=ids.get("user_id", "") if error_class is ErrorClass.OK else "",
                job_id=ids.get("job_id", "") if error_class is ErrorClass.OK else "",
                bytes=nbytes,
                error_detail="" if error is None else f"{type(error).__name__}: {error}"[:200],
            )
        )

    def finish(self, **context: Any) -> None:
        """Write the last records and the self-measurement (once)."""
        if self._finished:
            return
        self._finished = True
        self.writer.flush()
        wall = time.perf_counter() - self._wall0
        cpu = process_cpu_seconds() - self._cpu0
        report = SelfMeasurement.model_validate(
            {
                "mode": "closed",
                "users": self.plan.users,
                "t0_epoch": self.t0_epoch,
                "duration_s": self.plan.duration_s,
                "cpu_seconds": round(cpu, 3),
                "wall_seconds": round(wall, 3),
                "cpu_share_of_one_core": round(cpu / wall, 4) if wall > 0 else None,
                "scheduled": self.sent,
                "sent": self.sent,
                "dropped": 0,
                "warnings": [
                    "closed loop: latency is counted from the send time "
                    "(coordinated omission is not corrected)"
                ],
                **context,
            }
        )
        report.write(generator_report_path(Path(self.plan.records_path)))
