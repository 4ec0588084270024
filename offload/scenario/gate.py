"""What a scenario tells the regression gate: tolerances measured for its own figures.

The gate's default tolerances (``offload/gate/policy.py``) are sized for the noisiest figure
of their kind on a shared 2-core machine. A scenario whose figure is steadier — the sync
design's latency in ``ci-gate`` is mostly the provider's 50 ms, and moved by under 10 %
between runs of the same code — would hide a real 15 % slowdown behind a 20 % default. So a
scenario may set the tolerance of a gated metric from its own A/A evidence (``make gate-aa``,
then ``offload spread``, whose "suggested" column is that evidence), in the file that defines
the workload the evidence was measured on.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from offload.scenario.base import StrictModel
from offload.units import Share


class GateSettings(StrictModel):
    #: per gated metric, ``<design>.<metric>`` (``sync.signup.p50``): the change the gate lets
    #: pass — a share of the base's value for relative metrics (``10%``), the metric's own unit
    #: for absolute ones (an error rate's ``2%`` is two percentage points)
    tolerances: dict[str, Share] = Field(default_factory=dict)

    @field_validator("tolerances")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        from offload.gate.policy import GATED_SHORTHANDS  # the gate's models load only here

        for key, tolerance in value.items():
            design, _, short = key.partition(".")
            if not design or short not in GATED_SHORTHANDS:
                raise ValueError(
                    f"{key!r} is not <design>.<gated metric>; the gated metrics are "
                    f"{', '.join(GATED_SHORTHANDS)}"
                )
            if tolerance < 0:
                raise ValueError(f"{key}: a tolerance cannot be negative, got {tolerance:g}")
        return value

    def designs(self) -> set[str]:
        return {key.partition(".")[0] for key in self.tolerances}
