"""``reports/index.html``: every run under ``reports/runs/`` with its headline figures and a
link to its report — rebuilt from the run directories each time, so it is never stale."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from offload.analysis import numbers
from offload.analysis.scenario_data import in_run_order
from offload.errors import RunInvalid
from offload.report.html import CSS, inline
from offload.rundir.paths import scenario_dirs
from offload.rundir.run_info import RunInfo
from offload.rundir.summary import DesignSummary, Summary

HEADLINES: tuple[tuple[str, Callable[[DesignSummary], str]], ...] = (
    ("signup p95", lambda d: numbers.ms(d.signup.overall.latency_ms.p95)),
    ("signups failed", lambda d: numbers.pct(d.signup.overall.error_rate)),
    ("email end-to-end p95", lambda d: numbers.ms(d.e2e_ms.p95)),
    ("emails lost", lambda d: numbers.count(d.emails.lost) if d.emails else d.no_ledger),
)


def _per_design(summary: Summary, read: Callable[[DesignSummary], str]) -> str:
    """One figure per design, one line each: ``sync 5,005 ms<br>async 6.8 ms``."""
    return "<br>".join(inline(f"{name} {read(d)}") for name, d in summary.designs.items())


def _scenario_table(run_dir: Path) -> tuple[str, bool]:
    """The run's scenarios with their headline figures, and whether every one is valid."""
    rows, valid = [], True
    for directory in in_run_order(scenario_dirs(run_dir)):
        path = directory / Summary.FILE_NAME
        try:
            summary = Summary.load(path)
        except RunInvalid as exc:
            problem = "no summary.json" if not path.exists() else f"unreadable: {exc}"
            rows.append(
                f'<tr><td>{inline(directory.name)}</td><td colspan="{len(HEADLINES)}">'
                f"{inline(problem)}</td></tr>"
            )
            valid = False
            continue
        ok = summary.valid
        valid = valid and ok
        flag = "" if ok else ' <span class="bad">INVALID</span>'
        cells = "".join(f'<td class="r">{_per_design(summary, read)}</td>' for _, read in HEADLINES)
        rows.append(f"<tr><td>{inline(directory.name)}{flag}</td>{cells}</tr>")
    if not rows:
        return "–", valid
    head = "".join(f'<th class="r">{label}</th>' for label, _ in HEADLINES)
    body = "".join(rows)
    return (
        f"<table><thead><tr><th>scenario</th>{head}</tr></thead><tbody>{body}</tbody></table>",
        valid,
    )


def _run_row(run_dir: Path, reports_dir: Path) -> tuple[float, str]:
    info: RunInfo | None = None
    status = "?"  # a run directory without run.json (copied by hand) is listed all the same
    if (run_dir / RunInfo.FILE_NAME).exists():
        try:
            info = RunInfo.in_folder(run_dir)
            status = info.status
        except RunInvalid as exc:
            status = f"unreadable: {exc}"
    started = info.started_at if info else run_dir.stat().st_mtime
    when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC")
    # a sweep's run directory has its own page (offload sweep), a bench's the run report
    page = next((p for p in ("report.html", "sweep.html") if (run_dir / p).exists()), None)
    link = run_dir.relative_to(reports_dir).as_posix() + f"/{page}"
    rendered = page is not None
    name = f"[{run_dir.name}]({link})" if rendered else f"{run_dir.name} (not rendered)"
    table, valid = _scenario_table(run_dir)
    validity = "valid" if valid and status == "complete" else ("INVALID" if not valid else status)
    css = "ok" if validity == "valid" else "bad"
    cells = [
        inline(name),
        inline(when),
        "yes" if info and info.quick else "no",
        f'<span class="{css}">{inline(validity)}</span>',
        table,
    ]
    return float(started), "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def write_index(reports_dir: Path) -> Path:
    """Write ``<reports_dir>/index.html`` listing every run, newest first."""
    reports_dir = Path(reports_dir)
    runs = sorted(p for p in (reports_dir / "runs").glob("*") if p.is_dir())
    rows = sorted((_run_row(run, reports_dir) for run in runs), reverse=True)
    body = "".join(row for _, row in rows) or '<tr><td colspan="5">no runs yet</td></tr>'
    latest = (
        '<p><a href="latest/report.html">The latest run\'s report</a> '
        "(<code>reports/latest</code>).</p>\n"
        if (reports_dir / "latest" / "report.html").exists()
        else ""
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>offload: every run</title>\n"
        f"<style>{CSS}\n.ok {{ color: #1b6e20; font-weight: bold; }}\n"
        ".bad { color: #b71c1c; font-weight: bold; }\n"
        "td table { margin: 0; font-size: 0.95em; }</style>\n</head>\n<body>\n"
        "<h1>offload: every run</h1>\n"
        "<p>Each row is one <code>offload bench</code> run directory, newest first. Headline "
        "figures per scenario and design: signup response p95 (from the scheduled time), the "
        "share of signups that failed, welcome-email end-to-end p95, and emails lost. "
        "<code>docs/report.md</code> defines every figure.</p>\n"
        f"{latest}"
        "<table><thead><tr><th>run</th><th>started</th><th>quick</th><th>validity</th>"
        f"<th>scenarios and headline figures</th></tr></thead><tbody>{body}</tbody></table>\n"
        "</body>\n</html>\n"
    )
    path = reports_dir / "index.html"
    path.write_text(page)
    return path
