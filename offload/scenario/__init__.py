"""Scenario files: a load profile, a fault timeline and expectations, validated by pydantic.

A scenario is the unit users write and share, so a malformed one must fail with one message
that names the file, the field and what was expected — never a traceback. The schema is
documented for users in ``scenarios/README.md``; keep the two in step. One module per part:
``load``, ``provider``, ``events`` (the fault timeline), ``designs``, ``model`` (the scenario
and its phases), ``files`` (reading, errors, the shipped scenarios) and ``sets`` (scenario
sets: several scenarios against one list of designs). The provider's settings and
the designs' knobs are not declared here: they derive from the components that read them
(``targets.downstream.profile``, ``targets.common.knobs``), so the scenario refuses what those
would refuse.
"""

from offload.scenario.base import RESERVED_PHASES
from offload.scenario.designs import DesignOverrides, Designs, TargetSpec, Variant
from offload.scenario.events import (
    SINGLE_PROCESS_RESTART_S,
    ApiFault,
    BrokerAction,
    FaultEvent,
    WorkerFault,
)
from offload.scenario.files import (
    SCENARIOS_DIR,
    describe_validation_error,
    load_scenario,
    scenario_path,
    shipped_scenarios,
)
from offload.scenario.load import Client, Load, LoadStep
from offload.scenario.model import Drain, Phase, Quick, Scenario
from offload.scenario.provider import ProviderChange, ProviderProfile
from offload.scenario.sets import SETS_DIR, ScenarioSet, load_set, set_path, set_scenario_files

__all__ = [
    "RESERVED_PHASES",
    "SCENARIOS_DIR",
    "SETS_DIR",
    "SINGLE_PROCESS_RESTART_S",
    "ApiFault",
    "BrokerAction",
    "Client",
    "DesignOverrides",
    "Designs",
    "Drain",
    "FaultEvent",
    "Load",
    "LoadStep",
    "Phase",
    "ProviderChange",
    "ProviderProfile",
    "Quick",
    "Scenario",
    "ScenarioSet",
    "TargetSpec",
    "Variant",
    "WorkerFault",
    "describe_validation_error",
    "load_scenario",
    "load_set",
    "scenario_path",
    "set_path",
    "set_scenario_files",
    "shipped_scenarios",
]
