"""The one door from the harness into code under ``targets/``.

``docs/targets.md`` promises that the harness knows a target only by its manifest: it starts
the processes the manifest lists, runs its broker hooks and reads the tables of the database
contract. What the harness cannot learn from a manifest comes from here, and only from here:

- the database contract's tables, created before any target starts and read while and after
  it runs (``offload verify``, the drain's backlog, the export of a run's tables, ``offload
  dlq``), with the engine settings that let the harness read them while a target writes
  (``targets/common/store.py``);
- the async design's queue names, routing key and job format, which ``offload dlq`` needs to
  read and re-drive that design's dead letters (``targets/async_api/topology.py``,
  ``targets/common/jobs.py``);
- the simulated email provider, part of the test rig rather than a target: the module the
  harness starts and its delivery log (``targets/downstream``); its admin client is the
  harness's own (``offload/run/provider_admin.py``).

Every other module of ``offload/`` imports these names from here, so
``git grep -n "targets\\." offload | grep import`` lists this file (and the load generator's plan
format in ``offload/run/loadplan.py``), and what the harness assumes about ``targets/`` is read
in one place. Importing them costs nothing extra: the CLI loads SQLAlchemy and pika anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from offload.errors import RunInvalid
from targets.async_api.topology import ROUTING_KEY, Topology
from targets.common.jobs import JobState, WelcomeEmailJob
from targets.common.store import create_schema, job_events, jobs, make_engine, normalise_url
from targets.downstream.log import DeliveryLogError
from targets.downstream.log import read_log as _read_log

#: ``python -m`` this to start the simulated email provider
PROVIDER_MODULE = "targets.downstream"

__all__ = [
    "PROVIDER_MODULE",
    "ROUTING_KEY",
    "JobState",
    "Topology",
    "WelcomeEmailJob",
    "create_schema",
    "job_events",
    "jobs",
    "make_engine",
    "normalise_url",
    "read_log",
]


def read_log(path: Path) -> list[dict[str, Any]]:
    """The provider's delivery log; a corrupt one is the run's problem, said as RunInvalid."""
    try:
        return _read_log(path)
    except DeliveryLogError as exc:
        raise RunInvalid(f"{path}: {exc}") from exc
