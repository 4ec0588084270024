"""The reference designs' knobs, declared once: type, unit, limits and default of each.

Every side derives its view from these two models, so that a value one side accepts, every
side accepts:

* each process of a design reads :class:`ProcessKnobs` at start from ``OFFLOAD_<NAME>``
  variables (:class:`targets.common.settings.TargetSettings` inherits them);
* the harness starts a design with a :class:`DesignKnobs` (its ``DesignConfig``) and hands every
  process :meth:`ProcessKnobs.target_env`;
* a scenario's ``designs:`` section is :class:`DesignKnobs` spelled the scenario's way
  (``offload/scenario/designs.py``), so a scenario is refused at load time for any value a
  design would refuse at start.

A knob's unit is the suffix of its name: ``_s`` is seconds. This module imports nothing from
the harness: a target runs without it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: prefix of every environment variable the reference designs read
ENV_PREFIX = "OFFLOAD_"


def _at_least_one(delays: tuple[float, ...]) -> tuple[float, ...]:
    # a validator rather than min_length, which would add a second, misleading error when
    # the only delay is refused ("at least 1 item after validation, not 0")
    if not delays:
        raise ValueError("give at least one delay")
    return delays


#: threads per server process unless a scenario says otherwise (gunicorn ``gthread``)
DEFAULT_SERVER_THREADS = 8

#: the outbox relay's defaults (see ProcessKnobs)
DEFAULT_RELAY_POLL_INTERVAL_S = 0.05
DEFAULT_RELAY_BATCH = 200

#: seconds to wait before a retry: a retry at once would hit the same failure again
RetryDelay = Annotated[float, Field(gt=0)]


class ProcessKnobs(BaseModel):
    """What every process of a design reads at start: timeouts, retries, concurrency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: jobs each queue worker holds at once, which is also its concurrency (async only)
    prefetch: int = Field(50, ge=1, le=10_000)
    #: how long a design waits for the provider (sync request, async worker alike)
    provider_timeout_s: float = Field(3.0, gt=0, le=120)
    #: how long the async API waits for the broker's publisher confirm before answering 503
    publish_timeout_s: float = Field(1.0, gt=0, le=60)
    #: attempts before a job is dead-lettered (the first try counts)
    max_attempts: int = Field(6, ge=1, le=100)
    #: delay before retry n; the last one repeats
    retry_delays_s: Annotated[tuple[RetryDelay, ...], AfterValidator(_at_least_one)] = (
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
    )

    #: outbox design: how long its relay waits before reading the outbox again when it found
    #: nothing to publish (the floor of the added delay between a signup and its publish).
    #: Left out of a dump at its default, like ``server_threads``: recorded scenarios stay as
    #: they were before the knob existed.
    relay_poll_interval_s: float = Field(
        DEFAULT_RELAY_POLL_INTERVAL_S,
        gt=0,
        le=10,
        exclude_if=lambda value: value == DEFAULT_RELAY_POLL_INTERVAL_S,
    )
    #: outbox design: messages the relay reads and publishes per round (one read, one commit)
    relay_batch: int = Field(
        DEFAULT_RELAY_BATCH, ge=1, le=10_000, exclude_if=lambda value: value == DEFAULT_RELAY_BATCH
    )

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 = first retry)."""
        index = min(max(attempt - 2, 0), len(self.retry_delays_s) - 1)
        return self.retry_delays_s[index]

    def target_env(self) -> dict[str, str]:
        """These knobs as the ``OFFLOAD_*`` variables a design's processes read them from."""
        return {
            ENV_PREFIX + name.upper(): _env_text(getattr(self, name))
            for name in ProcessKnobs.model_fields
        }


class DesignKnobs(ProcessKnobs):
    """A design's whole configuration: what its processes read, and how many the harness
    starts. Both designs of a run share the server process count and the provider timeout —
    the same hardware budget and the same patience — so that differences come from the
    architecture."""

    #: gunicorn workers (sync) and uvicorn workers (async)
    server_processes: int = Field(4, ge=1, le=64)
    #: threads per server process, for servers that take requests on threads (gunicorn
    #: ``gthread``: sync-threads); a server process then holds ``server_threads`` requests at
    #: once, so the design's concurrency is ``server_processes × server_threads``. Left out
    #: of a dump at its default: the knob came after runs were recorded, and a recorded
    #: scenario (the gate's identity of an experiment) must not change for a knob it never set.
    server_threads: int = Field(
        DEFAULT_SERVER_THREADS,
        ge=1,
        le=256,
        exclude_if=lambda threads: threads == DEFAULT_SERVER_THREADS,
    )
    #: queue worker processes (async only)
    workers: int = Field(2, ge=0, le=64)
    #: Prometheus metrics from every component (``targets/common/metrics.py``), scraped each
    #: second into ``metrics.csv``. Off by default: measured side by side, they added about
    #: 10 % to the async design's CPU per signup (docs/observability.md), above the 5 % a
    #: default may cost; ``metrics: true`` in a scenario's ``designs:`` turns them on. Left out of a
    #: dump at its default, like ``server_threads``.
    metrics: bool = Field(False, exclude_if=lambda on: not on)
    #: OpenTelemetry traces from the generator, the API, the worker and the provider
    #: (``targets/common/tracing.py``), gathered into ``traces.otlp.jsonl``. Off by default:
    #: measured side by side, it added 28–35 % to the async design's CPU per signup
    #: (docs/observability.md); ``tracing: true`` in a scenario's ``designs:`` turns it on.
    #: Left out of a dump at its default, like ``metrics``.
    tracing: bool = Field(False, exclude_if=lambda on: not on)


def _env_text(value: object) -> str:
    """``3``, ``50``, ``0.5,1,2``: numbers as short as they go exactly, lists comma-separated."""
    if isinstance(value, tuple):
        return ",".join(_env_text(item) for item in value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def split_env_list(value: object) -> object:
    """``"0.5,1,2"`` (how :meth:`ProcessKnobs.target_env` writes a list) as a tuple of text."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


__all__ = ["ENV_PREFIX", "DesignKnobs", "ProcessKnobs", "RetryDelay", "split_env_list"]
