"""The gate's verdict on the terminal: one table row per check, then why each failure failed."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from offload.gate.checks import CheckResult, GateReport, Verdict

STYLES = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.ERROR: "bold magenta"}
HEADLINE_STYLES = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta"}


def print_report(report: GateReport, console: Console) -> None:
    table = Table(
        title=f"offload gate — {report.run_dir}",
        caption=escape(report.legend) or None,
        header_style="bold",
        expand=False,
    )
    columns = ("verdict", "kind", "scenario", "check", report.value_heading)
    for column in (*columns, report.baseline_heading, report.change_heading):
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
        if check.pairs:
            console.print(_pair_table(check))
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(f"[{HEADLINE_STYLES[report.status]}]{escape(report.headline())}[/]")


def _pair_table(check: CheckResult) -> Table:
    """The pairs behind one A/B check (AB: the base ran first)."""
    table = Table(header_style="bold", expand=False, box=None, padding=(0, 2))
    for column in ("pair", "order", "base", "candidate", "difference"):
        table.add_column(column, justify="right" if column != "order" else "left")
    for row in check.pairs:
        table.add_row(str(row.pair), row.order, row.base, row.candidate, row.difference)
    return table
