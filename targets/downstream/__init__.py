"""The simulated email provider: a real HTTP service whose faults the harness switches.

Run it with ``python -m targets.downstream``; drive it with :class:`ProviderAdmin`; read its
delivery log, the ground truth of the delivery ledger, with :func:`read_log`.
"""

from targets.downstream.admin import ProviderAdmin
from targets.downstream.log import FIELDS, Outcome, read_log
from targets.downstream.profile import POISON_DOMAIN, FaultProfile, ProfileError, parse_profile

__all__ = [
    "FIELDS",
    "POISON_DOMAIN",
    "FaultProfile",
    "Outcome",
    "ProfileError",
    "ProviderAdmin",
    "parse_profile",
    "read_log",
]
