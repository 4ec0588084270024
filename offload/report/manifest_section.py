"""The manifest section every report ends with: what ran, where and with which versions —
collapsed by default, because a reviewer needs it only to judge whether two runs compare."""

from __future__ import annotations

from typing import Any

from offload.analysis.scenario_data import dig
from offload.report.document import Block, Code, Details, Paragraph, Table


def manifest_details(
    manifest: dict[str, Any], scenario_yaml: str | None, run_info: dict[str, Any] | None = None
) -> Details:
    """Versions, per-design configuration, machine, git, broker: collapsed by default."""
    blocks: list[Block] = []
    git = manifest.get("git") or (run_info or {}).get("git") or {}
    facts = [
        [
            "git commit",
            f"`{git.get('sha', '?')}`" + (" (uncommitted changes)" if git.get("dirty") else ""),
        ],
        ["quick run", "yes" if manifest.get("quick", (run_info or {}).get("quick")) else "no"],
        ["broker", str(dig(manifest, "broker", "source") or "none")],
    ]
    if run_info and run_info.get("command"):
        facts.append(["command", "`" + " ".join(str(a) for a in run_info["command"]) + "`"])
    for key, value in (manifest.get("machine") or (run_info or {}).get("machine") or {}).items():
        facts.append([f"machine: {key}", str(value)])
    blocks.append(Table(["", "value"], facts))
    versions = manifest.get("versions") or {}
    if versions:
        blocks.append(Table(["package", "version"], [[k, str(v)] for k, v in versions.items()]))
    designs = manifest.get("designs") or {}
    if designs:
        keys: list[str] = []
        for entry in designs.values():
            keys += [k for k in (entry.get("config") or {}) if k not in keys]
        rows = [[k, *[_text(dig(e, "config", k)) for e in designs.values()]] for k in keys]
        rows.append(["kind", *[str(e.get("kind", "")) for e in designs.values()]])
        rows.append(
            [
                "server",
                *[str(dig(e, "target", "metadata", "server") or "") for e in designs.values()],
            ]
        )
        rows.append(["processes", *[_text(e.get("processes")) for e in designs.values()]])
        rows.append(
            ["database", *[str(dig(e, "database", "kind") or "") for e in designs.values()]]
        )
        blocks.append(Table(["configuration", *designs], rows))
    if scenario_yaml:
        blocks.append(Paragraph("The scenario file exactly as given:"))
        blocks.append(Code(scenario_yaml, "yaml"))
    return Details("Manifest: versions, configuration, machine", blocks)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def measured_on(manifest: dict[str, Any], run_info: dict[str, Any] | None = None) -> str:
    """One visible line: where and with what this was measured (the details are collapsed)."""
    machine = manifest.get("machine") or (run_info or {}).get("machine") or {}
    versions = manifest.get("versions") or {}
    git = manifest.get("git") or (run_info or {}).get("git") or {}
    parts = []
    if machine:
        parts.append(
            f"{machine.get('cpu_model', 'unknown CPU')}, {machine.get('cpus', '?')} CPUs, "
            f"{machine.get('memory_gb', '?')} GB ({machine.get('platform', '')})"
        )
    shown = [
        f"{name} {versions[name]}"
        for name in ("python", "offload", "rabbitmq", "locust")
        if name in versions
    ]
    if shown:
        parts.append(", ".join(shown))
    if git.get("sha"):
        parts.append(
            f"git {str(git['sha'])[:10]}" + (" + local changes" if git.get("dirty") else "")
        )
    broker = dig(manifest, "broker", "source")
    if broker:
        parts.append(f"broker: {broker}")
    return "Measured on " + "; ".join(parts) + ". Full manifest at the end." if parts else ""
