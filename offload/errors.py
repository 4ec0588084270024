"""One error tree for the harness, so the CLI can turn any of them into a clear message.

    OffloadError                 anything the harness reports to the user without a traceback
    ├── ScenarioError            a scenario file is malformed (names the file and the field)
    ├── ManifestError            a target manifest is malformed (names the file and the field)
    ├── ProvisioningError        no broker / database could be provided
    ├── TargetNotReady           a target process did not become healthy, or died
    ├── RunInvalid               a run directory cannot be analysed (missing or corrupt records)
    └── GateFailed               unusable gate input (bad expression, incomparable baseline)

Third-party errors (pika, subprocess, pydantic) are translated where they enter, with
``raise ... from`` so the cause stays visible under ``--debug``.
"""

from __future__ import annotations


class OffloadError(Exception):
    """Root of every error the harness reports as a message rather than a traceback."""

    #: process exit code the CLI uses for this kind of error
    exit_code: int = 1


class ScenarioError(OffloadError):
    """A scenario file is missing or malformed; usage error, exit code 2."""

    exit_code = 2


class ManifestError(OffloadError):
    """A target manifest is missing or malformed; usage error, exit code 2."""

    exit_code = 2


class ProvisioningError(OffloadError):
    """The broker or database could not be provided."""


class TargetNotReady(OffloadError):
    """A component did not become healthy in time, or exited while it was needed."""


class RunInvalid(OffloadError):
    """A run directory is incomplete or unreadable; exit code 2 (unusable input)."""

    exit_code = 2


class GateFailed(OffloadError):
    """The gate's input is unusable (bad expression, incomparable baseline); exit code 2."""

    exit_code = 2
