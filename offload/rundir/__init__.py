"""Run directories: where ``offload bench`` writes and where report, gate and baseline read.

One typed, versioned model per file — :class:`RunInfo` (``run.json``),
:class:`ScenarioManifest` (``<scenario>/manifest.json``, with a :class:`DesignEntry` per
design) and :class:`Summary` (``<scenario>/summary.json``) — each with ``load`` and ``dump`` — and
:class:`GeneratorFloor`, the harness's own floor that both scenario files carry.
The layout and the JSON are documented in ``reports/README.md`` (a public contract).
"""

from offload.rundir.files import READABLE_VERSIONS, SCHEMA_VERSION
from offload.rundir.floor import GeneratorFloor, Quantiles
from offload.rundir.manifest import (
    DesignEntry,
    DesignKnobs,
    PhaseRecord,
    ScenarioManifest,
    ScenarioRecord,
    TargetRecord,
)
from offload.rundir.paths import (
    REPORTS_DIR,
    new_run_dir,
    point_latest,
    resolve_run_dir,
    scenario_dirs,
)
from offload.rundir.run_info import GitInfo, MachineInfo, RunInfo, RunStatus
from offload.rundir.summary import DesignSummary, Summary

__all__ = [
    "READABLE_VERSIONS",
    "REPORTS_DIR",
    "SCHEMA_VERSION",
    "DesignEntry",
    "DesignKnobs",
    "DesignSummary",
    "GeneratorFloor",
    "GitInfo",
    "MachineInfo",
    "PhaseRecord",
    "Quantiles",
    "RunInfo",
    "RunStatus",
    "ScenarioManifest",
    "ScenarioRecord",
    "Summary",
    "TargetRecord",
    "new_run_dir",
    "point_latest",
    "resolve_run_dir",
    "scenario_dirs",
]
