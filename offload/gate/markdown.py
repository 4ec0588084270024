"""gate.md: the verdict as Markdown for a CI job summary (GitHub's $GITHUB_STEP_SUMMARY).

The first line says PASS or FAIL; failures come first, each with its message, then warnings,
then every check in a table — a reviewer reads the top and stops when it is green.
"""

from __future__ import annotations

from pathlib import Path

from offload.gate.checks import GateReport, Verdict

ICONS = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.ERROR: "⚠️"}
HEADLINE_ICONS = {"PASS": "✅", "FAIL": "❌", "ERROR": "⚠️"}


def render_markdown(report: GateReport, *, refusal: str | None = None) -> str:
    lines: list[str] = []
    if refusal is not None:
        lines += [
            "## ⚠️ offload gate: ERROR — the gate could not judge this run",
            "",
            _context(report),
            "",
            "```",
            refusal,
            "```",
        ]
        return "\n".join(lines) + "\n"
    lines += [f"## {HEADLINE_ICONS[report.status]} offload gate: {report.headline()}", ""]
    lines += [_context(report), ""]
    problems = [c for c in report.ordered() if c.verdict is not Verdict.PASS]
    if problems:
        lines += ["### Failures", ""]
        for check in problems:
            lines.append(
                f"- {ICONS[check.verdict]} **{_inline(check.scenario)}** · {check.kind} · "
                f"`{_code(check.name)}`: {_inline(check.message)}"
            )
        lines.append("")
    if report.warnings:
        lines += ["### Warnings", ""]
        lines += [f"- {_inline(warning)}" for warning in report.warnings]
        lines.append("")
    lines += [
        "### Checks",
        "",
        f"| | scenario | kind | check | {report.value_heading} | {report.baseline_heading} "
        f"| {report.change_heading} |",
        "|---|---|---|---|---|---|---|",
    ]
    for check in report.ordered():
        cells = [
            f"{ICONS[check.verdict]} {check.verdict.value}",
            _cell(check.scenario),
            check.kind,
            f"`{_code(check.display)}`",
            _cell(check.value),
            _cell(check.baseline),
            _cell(check.change),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if report.legend:
        lines += ["", _inline(report.legend)]
    lines += _pair_tables(report)
    return "\n".join(lines) + "\n"


def _pair_tables(report: GateReport) -> list[str]:
    """Every A/B check's pairs, one collapsed table per metric (failures open)."""
    paired = [c for c in report.ordered() if c.pairs]
    if not paired:
        return []
    lines = ["", "### Pairs", "", "AB: the base ran first in the pair; BA: the candidate did.", ""]
    for check in paired:
        opened = " open" if check.verdict is not Verdict.PASS else ""
        lines += [
            f"<details{opened}><summary>{ICONS[check.verdict]} {_html(check.scenario)} · "
            f"<code>{_html(check.display)}</code></summary>",
            "",
            "| pair | order | base | candidate | difference |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {row.pair} | {row.order} | {_cell(row.base)} | {_cell(row.candidate)} "
            f"| {_cell(row.difference)} |"
            for row in check.pairs
        ]
        lines += ["", "</details>", ""]
    return lines


def _html(text: str) -> str:
    return _inline(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_markdown(report: GateReport, path: Path, *, refusal: str | None = None) -> Path:
    path.write_text(render_markdown(report, refusal=refusal))
    return path


def _context(report: GateReport) -> str:
    if report.context:
        return report.context
    text = f"Run: `{report.run_dir}`"
    if report.baseline_path is not None:
        text += f" · baseline: `{report.baseline_path}`"
    return text


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _inline(text: str) -> str:
    return " ".join(text.split())


def _code(text: str) -> str:
    return _inline(text).replace("`", "'").replace("|", "\\|")
