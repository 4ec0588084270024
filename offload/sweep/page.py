"""The sweep's page (``sweep.md`` and ``sweep.html`` in its run directory) and the summary
printed at the end, both from ``sweep-summary.json``, which is computed here from the cells.

The page is a report document (:mod:`offload.report.document`) rendered by the report's own
Markdown and HTML renderers, so it reads like every other report.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from offload.analysis import numbers
from offload.analysis.noise import CAUSE_LABELS
from offload.report.document import Banner, Block, BulletList, Heading, Image, Paragraph, Table
from offload.report.html import render_html
from offload.report.index import write_index
from offload.report.markdown import render_markdown
from offload.report.style import design_colours
from offload.rundir.summary import Interval
from offload.sweep import charts
from offload.sweep.analysis import analyse
from offload.sweep.model import SweepFile
from offload.sweep.rundir import CellFigures, MaxRate, Percentile, SweepRecord, SweepSummary
from offload.units import format_duration

log = logging.getLogger("offload.sweep")

PAGE = "sweep"
CURVES_CAPTION = (
    "Per provider latency (columns), each design's signup latency from the scheduled time "
    "(top; solid p99 with its 95 % interval, dashed p50) and share of failed signups (bottom) "
    "against the offered rate, grid and search cells alike. Where a cell has fewer than 1,000 "
    "signups its p99 is not supported and the slowest signup is drawn instead (▲, an upper "
    "bound of the p99). Hollow circles are invalid cells (the generator fell behind: its own "
    "loop, a machine busy with other processes, or the design saturating the machine): drawn, "
    "never joined to the curve. Dotted vertical: the knee, the first grid rate "
    "that misses the SLO (dash-dot). Dotted blue: the broker's bare publish-confirm p99 from "
    "the probe at the start, on an idle machine. Dotted with ×, in a design's colour: the "
    "same bare confirm's p99 measured beside each of its cells' load, where the sweep file "
    "asks for it (cell.broker_probe_rate) — the floor under the accept path at that rate."
)
MAP_CAPTION = (
    "Each grid cell (offered rate × provider latency): the design whose figure's 95 % "
    "interval lies wholly below the other's wins; where the intervals overlap, no clear "
    "difference (grey). Left: signup latency at p99 (or, where a cell's signups cannot support "
    "p99, the highest percentile both support, named in the cell) with the queue-backed "
    "design's email end-to-end p95 — what its fast answer costs in delivery time. Right: CPU "
    "seconds of the design's own components (broker included) per signup over the measured "
    "part. Hatched: a design's cell was invalid."
)


def _ci(value: float | None, ci: Interval | None, render: type[str] | None = None) -> str:
    if value is None:
        return numbers.DASH
    text = numbers.ms(value)
    if ci is not None:
        text += f" [{numbers.ms(ci.low)}–{numbers.ms(ci.high)}]"
    return text


def _latency(point: Percentile | None) -> str:
    if point is None or point.value is None:
        return "n/a (too few signups)"
    return _ci(point.value, point.ci)


def _share(cell: CellFigures) -> str:
    if cell.error_rate is None:
        return numbers.DASH
    text = numbers.pct(cell.error_rate)
    if cell.error_rate_ci is not None:
        text += f" [{numbers.pct(cell.error_rate_ci.low)}–{numbers.pct(cell.error_rate_ci.high)}]"
    return text


def _cpu(cell: CellFigures) -> str:
    if cell.cpu_per_1000 is None:
        return numbers.DASH
    text = f"{cell.cpu_per_1000:.3g}"
    if cell.cpu_per_1000_ci is not None:
        text += f" [{cell.cpu_per_1000_ci.low:.3g}–{cell.cpu_per_1000_ci.high:.3g}]"
    return text


def _e2e(cell: CellFigures) -> str:
    if cell.e2e_p95_ms is None:
        # the queue is first in, first out: the warm-up's emails went first
        return (
            "no measured signup's email delivered (not drained)"
            if cell.drained is False
            else numbers.DASH
        )
    text = numbers.ms(cell.e2e_p95_ms)
    return text + (" (not drained: ≥)" if cell.drained is False else "")


def _beside(cell: CellFigures) -> str:
    """The bare confirm p99 beside the cell's load, where the probe ran there."""
    confirm = cell.broker_confirm_p99_ms
    return "" if not confirm else f" (bare confirm beside: {numbers.ms(confirm)})"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _link(folder: str | None) -> str:
    return f"[{folder}]({folder}/summary.json)" if folder else numbers.DASH


def _max_rate_row(entry: MaxRate) -> list[str]:
    rate = f"{entry.rate:g}/s" if entry.rate is not None else "none (the lowest rate missed)"
    bound = (
        f"{entry.bound:g}/s: {entry.bound_verdict} — {_link(entry.bound_folder)}"
        if entry.bound is not None
        else "none up to the search's bound"
    )
    return [
        entry.design,
        format_duration(entry.latency_s),
        rate,
        _link(entry.rate_folder),
        bound,
        entry.stopped_by,
        str(entry.runs),
    ]


def page_blocks(
    summary: SweepSummary, record: SweepRecord, files: dict[str, Path], problems: list[str]
) -> list[Block]:
    invalid = [c for c in summary.cells if not c.valid]
    blocks: list[Block] = [
        Heading(1, f"offload sweep: {summary.sweep}" + (" (quick)" if summary.quick else "")),
        Paragraph(
            f"{len(summary.designs)} designs ({', '.join(summary.designs)}) × "
            f"{len(summary.rates)} offered rates ({', '.join(f'{r:g}/s' for r in summary.rates)})"
            f" × {_count(len(summary.latencies_s), 'provider latency', 'provider latencies')} "
            f"({', '.join(map(format_duration, summary.latencies_s))}); "
            f"{len(summary.cells)} cells ran ({sum(c.purpose == 'search' for c in summary.cells)}"
            f" for the searches) in {numbers.seconds(summary.wall_s)}. SLO: signup p99 ≤ "
            f"{numbers.ms(summary.slo_p99_ms)} and failed ≤ {numbers.pct(summary.slo_errors)}. "
            f"Sweep file: `{record.sweep_file}`; generator processes: {record.load_workers}. "
            "Every figure is read from its cell's `summary.json` (computed from the cell's "
            "raw records) or, for CPU, its `samples.csv`; docs/sweep.md defines them."
        ),
    ]
    if invalid or problems:
        blocks.append(
            Banner(
                "invalid",
                _count(len(invalid), "invalid cell", "invalid cells")
                + ": not the system's figures",
                [_invalid_line(c) for c in invalid] + problems,
            )
        )
    if record.status != "complete":
        blocks.append(Banner("warning", f"the sweep did not complete: {record.status}"))
    blocks += [
        Heading(2, "Maximum sustainable rate under the SLO"),
        Paragraph(
            "Per design and provider latency: the highest offered rate whose cell met the SLO "
            "below the first that did not, found by doubling from the grid's highest passing "
            "rate, then bisection, bounded in runs and time (the search's bound says why it "
            "stopped). The cell that bounds it is the lowest rate above that missed the SLO "
            "(or was invalid)."
        ),
        Table(
            ["design", "provider", "max rate", "its cell", "bounded by", "stopped by", "runs"],
            [_max_rate_row(m) for m in summary.max_rates],
            align=["l", "r", "r", "l", "l", "l", "r"],
        ),
        Heading(2, "Latency–throughput curves"),
        Image(
            files["curves"],
            "latency-throughput curves",
            CURVES_CAPTION,
            files["curves"].with_suffix(".svg"),
        ),
    ]
    knees = [
        f"{design}, provider {latency}: knee at {k.rate:g}/s"
        + (f" (after {k.before_rate:g}/s)" if k.before_rate is not None else "")
        + f" — {k.reason}"
        for design, per in summary.knees.items()
        for latency, k in per.items()
        if k is not None
    ]
    blocks.append(BulletList(knees or ["no curve left the SLO in the grid"]))
    blocks.append(Heading(2, "Crossover map"))
    blocks += _crossover(summary, files)
    blocks += [
        Heading(2, "Every cell"),
        Table(
            [
                "cell",
                "purpose",
                "signups",
                "p50",
                "p99",
                "failed",
                "CPU s/1,000",
                "e2e p95",
                "SLO",
                "generator",
            ],
            [
                [
                    _link(c.folder),
                    c.purpose,
                    numbers.count(c.signups),
                    _latency(c.latency.get("p50")),
                    _latency(c.latency.get("p99")) + _beside(c),
                    _share(c),
                    _cpu(c),
                    _e2e(c),
                    f"{c.verdict}: {c.verdict_reason}",
                    f"{c.generator_processes} process(es)" + _lag_note(c),
                ]
                for c in summary.cells
            ],
            align=["l", "l", "r", "r", "r", "r", "r", "r", "l", "l"],
        ),
        Heading(2, "Broker probe"),
        Paragraph(_probe_text(record)),
    ]
    return blocks


def _probe_text(record: SweepRecord) -> str:
    probe = record.broker_probe
    if probe is None:
        return f"Not measured: {record.broker_probe_missing or 'unknown reason'}."
    paced, b2b = probe.paced, probe.back_to_back
    return (
        f"Measured once before the cells against the same broker ({probe.broker}, RabbitMQ "
        f"{probe.rabbitmq_version or '?'}): {probe.message_bytes}-byte persistent messages to a "
        f"quorum queue with publisher confirms. Paced at {paced.rate:g}/s for "
        f"{paced.duration_s:g} s: confirm p50 {numbers.ms(paced.confirm.p50_ms)}, p99 "
        f"{numbers.ms(paced.confirm.p99_ms)} ({paced.confirmed} confirmed). Back to back, one "
        f"publish in flight: {b2b.rate:,.0f} publishes/s, confirm p99 "
        f"{numbers.ms(b2b.confirm.p99_ms)}."
    )


def write_page(run_dir: Path, summary: SweepSummary, record: SweepRecord) -> tuple[Path, Path]:
    colours = design_colours(summary.designs)
    files, problems = charts.draw(summary, colours, run_dir / "charts")
    blocks = page_blocks(summary, record, files, problems)
    md, html = run_dir / f"{PAGE}.md", run_dir / f"{PAGE}.html"
    md.write_text(render_markdown(blocks, md))
    html.write_text(render_html(blocks, f"offload sweep {summary.sweep}", html))
    return md, html


def _invalid_line(cell: CellFigures) -> str:
    """One line of the invalid banner: the cell, who took the generator's CPU (when its
    records show it), and the reasons with their figures."""
    cause = f" ({CAUSE_LABELS[cell.lag_cause]})" if cell.lag_cause else ""
    return f"{cell.folder}{cause}: {'; '.join(cell.invalid_reasons) or cell.verdict_reason}"


def _lag_note(cell: CellFigures) -> str:
    """The generator column's note: who made it fall behind (older files: saturated)."""
    if cell.lag_cause is not None:
        return f", fell behind: {CAUSE_LABELS[cell.lag_cause]}"
    return ", saturated" if cell.generator_saturated else ""


def print_summary(console: Console, summary: SweepSummary, html: Path) -> None:
    table = RichTable(title=f"offload sweep {summary.sweep} — maximum rate under the SLO")
    for column in ("design", "provider", "max rate", "bounded by", "stopped by"):
        table.add_column(column)
    for entry in summary.max_rates:
        table.add_row(
            entry.design,
            format_duration(entry.latency_s),
            f"{entry.rate:g}/s" if entry.rate is not None else "none",
            f"{entry.bound:g}/s ({entry.bound_verdict})" if entry.bound is not None else "–",
            entry.stopped_by,
        )
    console.print(table)
    wins: dict[str, int] = {}
    for cell in summary.crossover:
        wins[cell.p99_winner] = wins.get(cell.p99_winner, 0) + 1
    if wins:  # none in a sweep of one design
        console.print(
            "crossover on signup latency: "
            + ", ".join(f"{name} {count}" for name, count in sorted(wins.items()))
        )
    for figures in summary.cells:
        if not figures.valid:
            reasons = "; ".join(figures.invalid_reasons)
            label = "[red]invalid[/]" if unmeasured(figures) else "[yellow]beyond this machine[/]"
            console.print(f"{label} {figures.folder}: {reasons}")
    console.print(f"sweep page: {html} (wall time {numbers.seconds(summary.wall_s)})")


def unmeasured(cell: CellFigures) -> bool:
    """An invalid cell that makes the sweep fail: its generator fell behind on its own, other
    processes took the machine, or a record is missing.

    A cell whose one flaw is that the design filled the machine (``lag_cause`` "design") was
    measured: the design needs more CPU than the machine has at that rate. That is what a
    search looks for, and where it stops; the cell is still shown invalid and never judged,
    but it does not fail the sweep — else every sweep that reaches the machine's limit would.
    """
    return not cell.valid and not (cell.lag_cause == "design" and len(cell.invalid_reasons) == 1)


def finish_sweep(run_dir: Path, console: Console) -> int:
    """Compute sweep-summary.json, write the page, print the summary; the exit code."""
    record = SweepRecord.in_folder(run_dir)
    sweep = SweepFile.model_validate(record.sweep)
    summary = analyse(run_dir, record, sweep)
    summary.dump(run_dir / SweepSummary.FILE_NAME)
    _md, html = write_page(run_dir, summary, record)
    if run_dir.resolve().parent.name == "runs":  # reports/index.html lists the sweep too
        write_index(run_dir.resolve().parent.parent)
    print_summary(console, summary, html)
    missing = [c.folder for c in record.cells if not (run_dir / c.folder / "summary.json").exists()]
    for folder in missing:
        console.print(f"[red]{folder}: could not be summarised (see run.json)[/]")
    ok = record.status == "complete" and not missing and not any(map(unmeasured, summary.cells))
    return 0 if ok else 1


def _crossover(summary: SweepSummary, files: dict[str, Path]) -> list[Block]:
    """The crossover map and its table; a sweep of one design has no crossover, and says so."""
    if not summary.crossover:
        return [
            Paragraph(
                f"One design in this sweep ({', '.join(summary.designs)}): a crossover compares "
                "two or more, so there is no map."
            )
        ]
    return [
        Image(
            files["crossover"], "crossover map", MAP_CAPTION, files["crossover"].with_suffix(".svg")
        ),
        Table(
            [
                "provider",
                "rate",
                "latency winner",
                "on",
                "signup latency",
                "CPU winner",
                "CPU s per 1,000 signups",
                "email e2e p95",
            ],
            [
                [
                    format_duration(x.latency_s),
                    f"{x.rate:g}/s",
                    x.p99_winner,
                    x.p99_key,
                    x.p99_detail,
                    x.cpu_winner,
                    x.cpu_detail,
                    ", ".join(f"{d} {numbers.ms(v)}" for d, v in x.e2e_p95_ms.items()) or "–",
                ]
                for x in summary.crossover
            ],
            align=["r", "r", "l", "l", "r", "l", "r", "r"],
        ),
    ]
