"""Configuration of the reference designs, read from ``OFFLOAD_*`` environment variables.

The harness starts every target process from its manifest and passes configuration through
the environment, so that the same code runs under ``make up``, ``make bench`` and by hand,
and nothing is configured by editing code. The design knobs (timeouts, retries, prefetch) are
declared in :mod:`targets.common.knobs`; this adds where to connect.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from targets.common.knobs import ENV_PREFIX, ProcessKnobs, split_env_list


class TargetSettings(ProcessKnobs, BaseSettings):
    """Everything the designs and the worker read at start-up: the knobs, and the
    connections."""

    # no JSON decoding of lists: OFFLOAD_RETRY_DELAYS_S is "0.5,1,2" (see split_env_list)
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, enable_decoding=False
    )

    #: SQLAlchemy URL; SQLite file by default, PostgreSQL when the harness passes one
    database_url: str = "sqlite:///offload.db"
    #: PostgreSQL schema to use (search_path); the harness creates one per run
    db_schema: str | None = None
    #: base URL of the email provider, e.g. http://127.0.0.1:8025
    provider_url: str = "http://127.0.0.1:8025"
    #: refuse request bodies larger than this before parsing them
    max_body_bytes: int = Field(16 * 1024, gt=0)

    # async design only
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    #: prefix of every exchange and queue name, so runs on a shared broker do not collide
    queue_prefix: str = "offload"
    #: declare exchanges and queues at start (off when running with least-privilege users)
    declare_topology: bool = True

    _split_delays = field_validator("retry_delays_s", mode="before")(split_env_list)
