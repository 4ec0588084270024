"""gunicorn settings of the Flask designs (``--config python:targets.sync_api.gunicorn_conf``).

Only a hook: when a worker process exits (killed, or recycled), its in-flight gauge leaves
the server's Prometheus sum, as prometheus_client's multi-process mode requires; its counters
stay, so a restart never makes a count go back.
"""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    from targets.common.metrics import ENABLED

    if ENABLED:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
