"""A phase in which the broker, the workers or the API processes are down is a fault phase:
the headline names it ("During broker-down …", not "With no fault") and the charts shade it."""

from __future__ import annotations

import pytest

from offload.analysis.phases import is_component_fault
from offload.rundir.manifest import PhaseRecord
from offload.scenario import load_scenario, scenario_path

pytestmark = pytest.mark.unit


def _faulted(name: str) -> dict[str, bool]:
    scenario = load_scenario(scenario_path(name))
    return {
        phase.name: is_component_fault(
            scenario, PhaseRecord(name=phase.name, start_s=phase.start_s, end_s=phase.end_s)
        )
        for phase in scenario.phases()
    }


def test_broker_api_and_worker_crashes_are_fault_phases_and_their_recovery_is_not():
    assert _faulted("broker-outage") == {"healthy": False, "broker-down": True, "recovery": False}
    assert _faulted("api-crash") == {"healthy": False, "api-crash": True, "recovery": False}
    assert _faulted("worker-crash") == {"healthy": False, "worker-crash": True}


def test_resizing_the_worker_pool_is_a_configuration_not_a_fault():
    assert not any(_faulted("worker-scaling").values())
