"""offload: measure what moving slow work onto a queue buys an API, and what it costs."""

from offload.errors import (
    GateFailed,
    ManifestError,
    OffloadError,
    ProvisioningError,
    RunInvalid,
    ScenarioError,
    TargetNotReady,
)

__version__ = "0.1.0"

__all__ = [
    "GateFailed",
    "ManifestError",
    "OffloadError",
    "ProvisioningError",
    "RunInvalid",
    "ScenarioError",
    "TargetNotReady",
    "__version__",
]
