"""Knobs of the reference designs that a scenario (or ``offload up``) sets.

Both designs of a run share the server process count and the provider timeout — the same
hardware budget and the same patience — so that differences come from the architecture.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DesignConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: gunicorn workers (sync) and uvicorn workers (async)
    server_processes: int = Field(4, ge=1, le=64)
    #: queue worker processes (async only)
    workers: int = Field(2, ge=0, le=64)
    #: jobs each queue worker holds at once (its concurrency)
    prefetch: int = Field(50, ge=1, le=10_000)
    #: how long a design waits for the provider (sync request, async worker)
    provider_timeout_s: float = Field(3.0, gt=0, le=120)
    #: how long the async API waits for the broker's confirm before answering 503
    publish_timeout_s: float = Field(1.0, gt=0, le=60)
    #: attempts before a job is dead-lettered
    max_attempts: int = Field(6, ge=1, le=100)
    #: delay before each retry (the last one repeats)
    retry_delays_s: tuple[float, ...] = Field((0.5, 1.0, 2.0, 4.0, 8.0), min_length=1)

    def target_env(self) -> dict[str, str]:
        """The ``OFFLOAD_*`` variables the reference designs read (targets.common.settings)."""
        return {
            "OFFLOAD_PROVIDER_TIMEOUT_S": f"{self.provider_timeout_s:g}",
            "OFFLOAD_PUBLISH_TIMEOUT_S": f"{self.publish_timeout_s:g}",
            "OFFLOAD_MAX_ATTEMPTS": str(self.max_attempts),
            "OFFLOAD_RETRY_DELAYS_S": ",".join(f"{d:g}" for d in self.retry_delays_s),
            "OFFLOAD_PREFETCH": str(self.prefetch),
        }
