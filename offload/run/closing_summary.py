"""The short summary a bench prints at the end: one row per scenario and design."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, JustifyMethod
from rich.table import Table

from offload.analysis.cost import stack_shares
from offload.rundir.summary import Summary


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def print_run_summary(console: Console, run_dir: Path, summaries: list[Summary]) -> None:
    table = Table(title=f"offload bench — {run_dir}", header_style="bold", show_lines=False)
    columns: list[tuple[str, JustifyMethod]] = [
        ("scenario", "left"),
        ("design", "left"),
        ("signups", "right"),
        ("p50 ms", "right"),
        ("p95 ms", "right"),
        ("p99 ms", "right"),
        ("errors", "right"),
        ("bystander p95", "right"),
        ("bystander err", "right"),
        ("e2e p95 ms", "right"),
        ("emails lost/dup", "right"),
        ("valid", "center"),
    ]
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for summary in summaries:
        for design, figures in summary.designs.items():
            signup = figures.signup.overall
            bystander = figures.bystander.overall
            emails = figures.emails
            table.add_row(
                summary.scenario + (f" (r{summary.repeat})" if summary.repeat > 1 else ""),
                design,
                f"{signup.count:,}",
                _ms(signup.latency_ms.p50),
                _ms(signup.latency_ms.p95),
                _ms(signup.latency_ms.p99),
                _pct(signup.error_rate),
                _ms(bystander.latency_ms.p95),
                _pct(bystander.error_rate),
                _ms(figures.e2e_ms.p95),
                f"{emails.lost}/{emails.duplicates}" if emails else "n/a",
                "yes" if summary.valid else "[red]NO[/]",
            )
    console.print(table)
    for summary in summaries:
        for reason in summary.invalid_reasons:
            console.print(f"[red]invalid[/] {summary.scenario}: {reason}")
        for warning in summary.warnings:
            console.print(f"[yellow]warning[/] {summary.scenario}: {warning}")
    for line in [*probe_lines(summaries), *stack_lines(summaries)]:
        console.print(line)
    closed = any(s.mode == "closed" for s in summaries)
    basis = (
        "closed loop: latency from the send time"
        if closed
        else ("latency from the scheduled time (open loop)")
    )
    console.print(f"{basis}. Run directory: {run_dir}")


def stack_lines(summaries: list[Summary]) -> list[str]:
    """One line per design whose stack floor the scenario measured (``load.stack_floor``): its
    server's CPU per signup against the same server and framework with nothing behind them."""
    lines = []
    for summary in summaries:
        name = summary.scenario + (f" (r{summary.repeat})" if summary.repeat > 1 else "")
        for share in stack_shares(summary):
            server = (
                "– (no signup answered 2xx)"
                if share.server_ms is None
                else f"{share.server_ms:.2f} ms per signup"
            )
            lines.append(
                f"{name} · {share.design}: server CPU {server}; its stack alone ({share.stack}, "
                f"a bare app on the same command) {share.stack_ms:.2f} ms per signup"
            )
    return lines


def probe_lines(summaries: list[Summary]) -> list[str]:
    """One line per design that ran the broker probe beside its load: its signup p99 against
    the bare confirm p99 on the same machine at the same time (``load.broker_probe_rate``)."""
    lines = []
    for summary in summaries:
        for design, figures in summary.designs.items():
            ratio = figures.accept_over_confirm_p99
            if ratio is None or figures.broker_probe is None:
                continue
            paced = figures.broker_probe.paced
            name = summary.scenario + (f" (r{summary.repeat})" if summary.repeat > 1 else "")
            lines.append(
                f"{name} · {design}: signup p99 {_ms(figures.signup.overall.latency_ms.p99)} ms "
                f"= {ratio:.1f}× the bare publish-confirm p99 beside the load "
                f"({_ms(paced.confirm.p99_ms)} ms, {paced.confirmed:,} probe publishes)"
            )
    return lines
