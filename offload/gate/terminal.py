"""The gate's verdict on the terminal: one table row per check, then why each failure failed."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from offload.gate.checks import GateReport, Verdict

STYLES = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.ERROR: "bold magenta"}
HEADLINE_STYLES = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta"}


def print_report(report: GateReport, console: Console) -> None:
    table = Table(title=f"offload gate — {report.run_dir}", header_style="bold", expand=False)
    for column in ("verdict", "kind", "scenario", "check", "value", "baseline", "change"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        style = STYLES[check.verdict]
        table.add_row(
            f"[{style}]{check.verdict.value.upper()}[/]",
            check.kind,
            escape(check.scenario),
            escape(check.display),
            escape(check.value),
            escape(check.baseline),
            escape(check.change),
        )
    console.print(table)
    for check in report.ordered():
        if check.verdict is Verdict.PASS:
            continue
        style = STYLES[check.verdict]
        console.print(
            f"[{style}]{check.verdict.value.upper()}[/] {escape(check.scenario)} · "
            f"{escape(check.name)}\n    {escape(check.message)}"
        )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(f"[{HEADLINE_STYLES[report.status]}]{escape(report.headline())}[/]")
