"""The manifest section every report ends with: what ran, where and with which versions —
collapsed by default, because a reviewer needs it only to judge whether two runs compare."""

from __future__ import annotations

from offload.report.document import Block, Code, Details, Paragraph, Table
from offload.rundir.manifest import ScenarioManifest
from offload.rundir.run_info import GitInfo, MachineInfo, RunInfo


def _git(manifest: ScenarioManifest | None, run_info: RunInfo | None) -> GitInfo:
    return (manifest and manifest.git) or (run_info and run_info.git) or GitInfo()


def _machine(manifest: ScenarioManifest | None, run_info: RunInfo | None) -> MachineInfo | None:
    """The manifest's machine, else the run's; None when neither recorded one."""
    for machine in (manifest and manifest.machine, run_info and run_info.machine):
        if machine and machine.to_json():
            return machine
    return None


def manifest_details(
    manifest: ScenarioManifest | None,
    scenario_yaml: str | None,
    run_info: RunInfo | None = None,
) -> Details:
    """Versions, per-design configuration, machine, git, broker: collapsed by default."""
    blocks: list[Block] = []
    git = _git(manifest, run_info)
    quick = manifest.quick if manifest else bool(run_info and run_info.quick)
    broker = manifest.broker.source if manifest and manifest.broker else "none"
    facts = [
        ["git commit", f"`{git.sha or '?'}`" + (" (uncommitted changes)" if git.dirty else "")],
        ["quick run", "yes" if quick else "no"],
        ["broker", broker],
    ]
    if run_info and run_info.command:
        facts.append(["command", "`" + " ".join(run_info.command) + "`"])
    machine = _machine(manifest, run_info)
    for key, value in (machine.to_json() if machine else {}).items():
        facts.append([f"machine: {key}", str(value)])
    blocks.append(Table(["", "value"], facts))
    versions = manifest.versions if manifest else {}
    if versions:
        blocks.append(Table(["package", "version"], [[k, str(v)] for k, v in versions.items()]))
    designs = manifest.designs if manifest else {}
    if designs:
        keys: list[str] = []
        configs = [entry.config.to_json() for entry in designs.values()]
        for config in configs:
            keys += [k for k in config if k not in keys]
        rows = [[k, *[_text(config.get(k)) for config in configs]] for k in keys]
        rows.append(["kind", *[e.kind for e in designs.values()]])
        rows.append(["server", *[_text(e.target.metadata.get("server")) for e in designs.values()]])
        rows.append(["processes", *[_text(e.processes) for e in designs.values()]])
        rows.append(["cpus", *[_text(e.placement) or "any" for e in designs.values()]])
        rows.append(
            ["database", *[e.database.kind if e.database else "" for e in designs.values()]]
        )
        blocks.append(Table(["configuration", *designs], rows))
    if scenario_yaml:
        blocks.append(Paragraph("The scenario file exactly as given:"))
        blocks.append(Code(scenario_yaml, "yaml"))
    return Details("Manifest: versions, configuration, machine", blocks)


def _text(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def measured_on(manifest: ScenarioManifest | None, run_info: RunInfo | None = None) -> str:
    """One visible line: where and with what this was measured (the details are collapsed)."""
    machine = _machine(manifest, run_info)
    versions = manifest.versions if manifest else {}
    git = _git(manifest, run_info)
    parts = []
    if machine:
        parts.append(
            f"{machine.cpu_model or 'unknown CPU'}, {_or_unknown(machine.cpus)} CPUs, "
            f"{_or_unknown(machine.memory_gb)} GB ({machine.platform or ''})"
        )
    shown = [
        f"{name} {versions[name]}"
        for name in ("python", "offload", "rabbitmq", "locust")
        if name in versions
    ]
    if shown:
        parts.append(", ".join(shown))
    if git.sha:
        parts.append(f"git {git.sha[:10]}" + (" + local changes" if git.dirty else ""))
    if manifest and manifest.broker:
        parts.append(f"broker: {manifest.broker.source}")
    return "Measured on " + "; ".join(parts) + ". Full manifest at the end." if parts else ""


def _or_unknown(value: object) -> str:
    return "?" if value is None else str(value)
