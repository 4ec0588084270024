"""Configuration of the reference designs, read from ``OFFLOAD_*`` environment variables.

The harness starts every target process from its manifest and passes configuration through
the environment, so that the same code runs under ``make up``, ``make bench`` and by hand,
and nothing is configured by editing code.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class TargetSettings(BaseSettings):
    """Everything the designs and the worker read at start-up."""

    model_config = SettingsConfigDict(env_prefix="OFFLOAD_", extra="ignore", frozen=True)

    #: SQLAlchemy URL; SQLite file by default, PostgreSQL when the harness passes one
    database_url: str = "sqlite:///offload.db"
    #: PostgreSQL schema to use (search_path); the harness creates one per run
    db_schema: str | None = None
    #: base URL of the email provider, e.g. http://127.0.0.1:8025
    provider_url: str = "http://127.0.0.1:8025"
    #: seconds the designs wait for the provider (sync API and async worker alike)
    provider_timeout_s: float = Field(3.0, gt=0)
    #: refuse request bodies larger than this before parsing them
    max_body_bytes: int = Field(16 * 1024, gt=0)

    # async design only
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    #: how long the API waits for the broker's publisher confirm before answering 503
    publish_timeout_s: float = Field(1.0, gt=0)
    #: prefix of every exchange and queue name, so runs on a shared broker do not collide
    queue_prefix: str = "offload"
    #: attempts before a job is dead-lettered (the first try counts)
    max_attempts: int = Field(6, ge=1)
    #: delay before retry n (seconds); the last value repeats
    retry_delays_s: Annotated[tuple[float, ...], NoDecode] = (0.5, 1.0, 2.0, 4.0, 8.0)
    #: unacknowledged jobs one worker holds, which is also its concurrency
    prefetch: int = Field(50, ge=1)
    #: declare exchanges and queues at start (off when running with least-privilege users)
    declare_topology: bool = True

    @field_validator("retry_delays_s", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("retry_delays_s")
    @classmethod
    def _delays_positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(delay <= 0 for delay in value):
            raise ValueError("retry delays must be a non-empty list of positive seconds")
        return value

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 = first retry)."""
        index = min(max(attempt - 2, 0), len(self.retry_delays_s) - 1)
        return self.retry_delays_s[index]
