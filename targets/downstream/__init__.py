"""The simulated email provider: a real HTTP service whose faults the harness switches.

Run it with ``python -m targets.downstream``; drive it through its admin API (the harness's
client is ``offload.run.provider_admin``); read its delivery log, the ground truth of the
delivery ledger, with :func:`read_log`. It imports nothing from the harness.
"""

from targets.downstream.log import FIELDS, DeliveryLogError, Outcome, read_log
from targets.downstream.profile import POISON_DOMAIN, FaultProfile, ProfileError, parse_profile

__all__ = [
    "FIELDS",
    "POISON_DOMAIN",
    "DeliveryLogError",
    "FaultProfile",
    "Outcome",
    "ProfileError",
    "parse_profile",
    "read_log",
]
