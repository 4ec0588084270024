"""What must match before two runs of a scenario may be compared, and what merely should.

A baseline is only evidence about the same experiment: the same scenario (load, faults, client,
drain — its ``expect``, ``gate``, ``description`` and ``tags`` may change freely), the same
quick flag, the same targets with the same design configuration and target metadata, and the
same versions of the frameworks the designs run on. Like pyperf's ``_CHECKED_METADATA``, a
difference there refuses the comparison and says which field differs. The machine (host name,
CPUs, memory, platform) is checked too (:func:`machine_differences`): machines of one kind
differ by tens of percent on these figures, so a stored baseline is evidence about its own
machine only; comparing on another takes ``--ignore-identity machine``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from offload.rundir.manifest import ScenarioManifest, TargetRecord
from offload.rundir.run_info import MachineInfo

#: scenario fields that do not change what is measured
UNCOMPARED_SCENARIO_FIELDS = ("expect", "gate", "description", "tags")
#: the frameworks the reference designs run on (python compared by major.minor)
IDENTITY_VERSIONS = ("python", "flask", "gunicorn", "fastapi", "uvicorn", "pika", "rabbitmq")
#: fields of a design's target that identify it (its directory differs per checkout)
TARGET_FIELDS = ("name", "kind", "metadata")
#: identity groups, in the order differences are reported, with how a difference is worded
GROUPS = {
    "scenario": "scenario differs",
    "quick": "quick flag differs",
    "targets": "targets differ",
    "designs": "design config differs",
    "target": "design target differs",
    "versions": "versions differ",
    "machine": "machine differs",
}


def identity_of(manifest: ScenarioManifest) -> dict[str, Any]:
    """The identity of one scenario run, as stored in a baseline file: computed from the
    manifest's JSON as recorded, so a run and its baseline compare field by field."""
    scenario = manifest.scenario.to_json()
    measured = {k: v for k, v in scenario.items() if k not in UNCOMPARED_SCENARIO_FIELDS}
    designs = manifest.designs
    versions = manifest.versions
    return {
        "scenario_sha256": _digest(measured),
        # targets and design knobs have their own groups, so a difference is named once
        "scenario": {k: v for k, v in measured.items() if k not in ("targets", "designs", "name")},
        "quick": manifest.quick,
        "targets": list(scenario.get("targets") or designs.keys()),
        "designs": {name: d.config.to_json() for name, d in designs.items()},
        "target": {name: _target(d.target) for name, d in designs.items()},
        "versions": {
            name: _version(name, versions[name]) for name in IDENTITY_VERSIONS if name in versions
        },
    }


@dataclass(frozen=True)
class Difference:
    """One field that differs between the baseline's identity and the current run's."""

    group: str
    field: str  # e.g. "async.workers" within the group "designs"
    baseline: Any
    current: Any

    @property
    def key(self) -> str:
        """What ``--ignore-identity`` takes: ``designs.async.workers``."""
        return f"{self.group}.{self.field}" if self.field else self.group

    def describe(self) -> str:
        where = f"{self.field} " if self.field else ""
        return (
            f"{GROUPS.get(self.group, self.group)}: {where}baseline {_show(self.baseline)}, "
            f"current {_show(self.current)}"
        )


def differences(
    baseline: Mapping[str, Any], current: Mapping[str, Any], *, ignore: Iterable[str] = ()
) -> list[Difference]:
    """Every identity field that differs, minus those the caller chose to ignore."""
    ignored = tuple(ignore)
    found: list[Difference] = []
    for group in GROUPS:
        old = _flatten(baseline.get(group))
        new = _flatten(current.get(group))
        for field in sorted(set(old) | set(new), key=lambda f: (f not in old, f)):
            if old.get(field, _ABSENT) != new.get(field, _ABSENT):
                found.append(
                    Difference(group, field, old.get(field, _ABSENT), new.get(field, _ABSENT))
                )
    if not found and baseline.get("scenario_sha256") != current.get("scenario_sha256"):
        found.append(
            Difference(
                "scenario", "", baseline.get("scenario_sha256"), current.get("scenario_sha256")
            )
        )
    return [d for d in found if not _ignored(d.key, ignored)]


#: what fingerprints the machine a baseline was recorded on (``--ignore-identity machine.<f>``)
MACHINE_FIELDS = ("hostname", "cpus", "cpu_model", "memory_gb", "platform")


def machine_differences(
    baseline: MachineInfo, current: MachineInfo, *, ignore: Iterable[str] = ()
) -> list[Difference]:
    """Where this machine differs from the baseline's (fields either side does not record are
    not compared; memory within 10 % is the same machine)."""
    ignored = tuple(ignore)
    found = []
    for name in MACHINE_FIELDS:
        old, new = getattr(baseline, name), getattr(current, name)
        if old is None or new is None:
            continue
        if name == "memory_gb":
            same = abs(float(new) - float(old)) <= 0.1 * float(old)
        else:
            same = old == new
        if not same:
            found.append(Difference("machine", name, old, new))
    return [d for d in found if not _ignored(d.key, ignored)]


def machine_warnings(baseline: MachineInfo, current: MachineInfo) -> list[str]:
    """What differs, as warnings: for a comparison made anyway (--ignore-identity machine)."""
    return [
        f"the machine differs: {d.field} baseline {_show(d.baseline)}, current {_show(d.current)}"
        for d in machine_differences(baseline, current)
    ]


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _ignored(key: str, ignored: tuple[str, ...]) -> bool:
    return any(key == f or key.startswith((f + ".", f + "[")) for f in ignored)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"async": {"workers": 4}}`` → ``{"async.workers": 4}``; lists index as ``[i]``."""
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for key, child in value.items():
            flat.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return flat or ({prefix: {}} if prefix else {})
    if isinstance(value, list) and value and any(isinstance(v, Mapping | list) for v in value):
        flat = {}
        for i, child in enumerate(value):
            flat.update(_flatten(child, f"{prefix}[{i}]"))
        flat[f"{prefix}.length" if prefix else "length"] = len(value)
        return flat
    if value is None and not prefix:
        return {}
    return {prefix: value}


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _target(target: TargetRecord) -> dict[str, Any]:
    """What a target *is* — not where it was checked out or how it describes itself."""
    recorded = target.to_json()
    return {key: recorded[key] for key in TARGET_FIELDS if key in recorded}


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _version(name: str, version: Any) -> str:
    text = str(version)
    if name == "python":
        return ".".join(text.split(".")[:2])
    return text
