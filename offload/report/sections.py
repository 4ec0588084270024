"""The building blocks of a report: each function turns one part of the analysis into
document blocks (a table, a banner, a chart with its caption). Pages assemble them."""

from __future__ import annotations

from pathlib import Path

from offload.analysis import numbers
from offload.analysis.capacity import DISAGREEMENT
from offload.analysis.claims import Claim, combine
from offload.analysis.comparison import ScenarioAnalysis
from offload.analysis.controls import NOT_MEASURED, ControlClaim
from offload.analysis.cost import cost_figures, stack_shares
from offload.analysis.floor import floor_sentence
from offload.analysis.headline import HeadlineSentence
from offload.analysis.noise import (
    BUSY_OTHER_PROCESSES_SHARE,
    BUSY_STEAL_SHARE,
    DESIGN_MOST_SHARE,
    MACHINE_FULL_SHARE,
)
from offload.analysis.ranking import Ranking, ranking_line
from offload.analysis.scenario_data import DesignData
from offload.analysis.timeseries import backlog_recovery, queue_series
from offload.analysis.trace_breakdown import TOLERANCE_S
from offload.analysis.uncertainty import TAIL_SAMPLES, min_count
from offload.analysis.verdicts import Verdict, verdict_rows
from offload.report.charts import CHARTS
from offload.report.document import (
    Banner,
    Block,
    BulletList,
    Heading,
    Image,
    Paragraph,
    Table,
)
from offload.rundir.summary import MachineLoad, Percentiles, Share, Summary

DOCS = "docs/report.md in the offload repository"


def banners(summary: Summary, problems: list[str], where: str = "") -> list[Block]:
    """Red when the run is invalid (figures not to be trusted), amber for warnings."""
    return invalid_banner(summary, where) + warning_banner(summary, problems, where)


def invalid_banner(summary: Summary, where: str = "") -> list[Block]:
    """Red when the run is invalid: it goes above everything, the headline included."""
    if summary.valid:
        return []
    prefix = f"{where}: " if where else ""
    return [
        Banner(
            "invalid",
            f"{prefix}this run is INVALID — do not use its figures for decisions",
            list(summary.invalid_reasons),
        )
    ]


def warning_banner(summary: Summary, problems: list[str], where: str = "") -> list[Block]:
    warnings = [*summary.warnings, *problems]
    if not warnings:
        return []
    prefix = f"{where}: " if where else ""
    return [Banner("warning", f"{prefix}warnings", warnings)]


def floor_paragraph(summary: Summary, where: str = "", *, brief: bool = False) -> Paragraph:
    """The harness's own floor (or why there is none), for next to the latency figures;
    ``brief`` for its second mention on a page."""
    prefix = f"{where}: " if where else ""
    text = floor_sentence(summary.floor, summary.floor_not_measured, brief=brief)
    return Paragraph(prefix + text)


def chart_anchor(chart_name: str, prefix: str = "") -> str | None:
    """The anchor of a chart's heading as :func:`chart_blocks` writes it (None: no such chart)."""
    chart = next((c for c in CHARTS if c.name == chart_name), None)
    return None if chart is None else Heading(3, prefix + chart.title).anchor


def headline_text(
    sentences: list[HeadlineSentence], drawn: set[str], prefix: str = "", page: str = ""
) -> str:
    """The headline's sentences, each followed by a link to the chart that shows it (when
    that chart was drawn); ``page`` is the file the anchors live in (empty: this page)."""
    parts = []
    for sentence in sentences:
        anchor = chart_anchor(sentence.chart, prefix) if sentence.chart in drawn else None
        link = f" [({sentence.chart} chart)]({page}#{anchor})" if anchor else ""
        parts.append(sentence.text + link)
    return " ".join(parts)


VERDICT_RULE = (
    "Lower is better on every row; figures in brackets are 95 % confidence intervals "
    "(bootstrap over the requests of the run; Wilson for shares). A design wins only when the "
    "intervals separate and the difference exceeds the tie margin (10 %, or the metric's "
    'absolute floor); otherwise "no clear difference". A p95 at the client timeout is no '
    "latency: such a row compares the share of requests that failed or timed out instead, "
    "and computes no factor from the timeout. A percentile with fewer than 10 requests "
    "beyond it is not available. The bystander row is each design's worst phase. Counts and "
    "CPU are single measurements (no interval) unless the run was repeated."
)


def verdict_table(verdicts: list[Verdict], designs: list[str], with_scenario: bool) -> Table:
    rows = verdict_rows(verdicts, designs)
    header = (["scenario"] if with_scenario else []) + ["metric", "winner", "factor", *designs]
    body = []
    for row in rows:
        cells = [row["metric"], f"**{row['winner']}**", row["factor"]]
        cells += [row.get(d, "") for d in designs]
        body.append(([row["scenario"]] if with_scenario else []) + cells)
    align = (["l"] if with_scenario else []) + ["l", "l", "l"] + ["r"] * len(designs)
    return Table(header, body, align)


RANKING_RULE = (
    "Each metric ranks the designs best first (lower is better on every row); figures in "
    "brackets are 95 % confidence intervals (bootstrap over the requests of the run; Wilson "
    "for shares). A design shares the place of the one above it unless it is worse beyond "
    "doubt — the intervals separate and the difference exceeds the tie margin (10 %, or the "
    "metric's absolute floor) and the measurement floor — the same rule as a two-design "
    'verdict; the designs at place 1 are "no clear difference" from the best. A percentile '
    "at the client timeout is no latency, only a lower bound: such designs rank below every "
    "measured one, and among themselves by the share of requests that failed or timed out. "
    "A percentile with fewer than 10 requests beyond it is not available and not ranked. "
    "The bystander rows are each design's worst phase. Counts and CPU are single "
    "measurements (no interval) unless the run was repeated."
)


def many_designs(designs: list[str]) -> bool:
    """Whether the verdicts are shown as rankings: a winner and a factor read naturally for
    two designs, not for more."""
    return len(designs) > 2


def ranking_table(rankings: list[Ranking]) -> Table:
    """One group of rows per metric, a design per row, best first: N designs make the table
    longer, never wider."""
    body = []
    for ranking in rankings:
        for i, entry in enumerate(ranking.entries):
            figure = f"{entry.figure} ({entry.note})" if entry.note else entry.figure
            place = "–" if entry.place is None else str(entry.place)
            design = f"**{entry.design}**" if entry.tied_best else entry.design
            metric = f"**{ranking.metric}**" if i == 0 else ""
            body.append([metric, place, design, figure, entry.relation])
    header = ["metric", "place", "design", "figure [95% CI]", "against the best"]
    return Table(header, body, ["l", "r", "l", "r", "l"])


def run_ranking_table(rankings: list[Ranking]) -> Table:
    """The rankings of every scenario, one row per scenario and metric, the order in one
    cell (intervals on each scenario's own page)."""
    rows = [[r.scenario, r.metric, ranking_line(r)] for r in rankings]
    return Table(["scenario", "metric", "ranking, best first (= shares the place)"], rows)


def control_blocks(controls: list[ControlClaim]) -> list[Block]:
    """Each question, its answer in words and the figures behind it, metric by metric."""
    blocks: list[Block] = [
        Paragraph(
            "The control designs take the queue-backed design apart: *inline-async* is the "
            "*async* API without the queue, *sync-threads* and *inline-async* are *sync*'s "
            "inline email under another concurrency model. Each metric is judged by the "
            "ranking rule below (95 % intervals, tie margin, measurement floor)."
        )
    ]
    for claim in controls:
        blocks.append(
            Paragraph(
                f"**{claim.question}** {claim.answer}"
                if claim.status == NOT_MEASURED
                else f"**{claim.question} {claim.status}.** {claim.answer} "
                f"*Compared: {claim.compares}.*"
            )
        )
        if claim.evidence:
            blocks.append(BulletList(claim.evidence))
    return blocks


def claims_table(claims: list[Claim]) -> Table:
    return Table(
        ["#", "claim", "status", "evidence"],
        [[str(c.number), c.text, c.status, c.evidence] for c in claims],
        status_column=2,
    )


def run_claims_table(per_scenario: dict[str, list[Claim]]) -> Table:
    combined = combine(per_scenario)
    scenarios = list(per_scenario)
    rows = [
        [str(number), text, overall, *[statuses[s] for s in scenarios]]
        for number, text, overall, statuses in combined
    ]
    return Table(["#", "claim", "whole run", *scenarios], rows, status_column=2)


def run_controls_table(per_scenario: dict[str, list[ControlClaim]]) -> Table:
    """The control questions' answers, a column per scenario (evidence on each scenario's
    page): whether the queue or the concurrency model made the difference may depend on the
    fault."""
    scenarios = list(per_scenario)
    questions = list(dict.fromkeys(c.question for cs in per_scenario.values() for c in cs))
    rows = [
        [
            question,
            *[
                next((c.status for c in per_scenario[s] if c.question == question), "")
                for s in scenarios
            ],
        ]
        for question in questions
    ]
    return Table(["question", *scenarios], rows)


def what_ran(analysis: ScenarioAnalysis) -> list[Block]:
    """The scenario in a few lines and its phases: what the reader needs before the figures."""
    data = analysis.data
    scenario = data.scenario
    load = scenario.load
    timeout = scenario.client.timeout if scenario.client else None
    text = (
        f"Open-loop load of {load.rate:g} signups/s ({load.arrivals or ''} "
        f"arrivals) plus {load.bystander_rate or 0:g} bystander requests/s for "
        f"{load.duration:g} s after a {load.warmup or 0:g} s warm-up; client "
        f"timeout {timeout} s. Each design ran alone on the "
        "machine, one after the other, on the same arrival schedule, configured as below."
    )
    if data.summary.quick or data.manifest.quick:
        scale = scenario.quick.time_scale if scenario.quick else None
        text += (
            f" **Quick run** (--quick): these durations, and the phases below, are the "
            f"description's shortened ×{scale}."
        )
    rows = [
        [
            p.name,
            f"{p.start_s:g}",
            f"{p.end_s:g}",
            p.provider,
            analysis.phase_labels.get(p.name, "") if p.name in analysis.disturbed else "",
        ]
        for p in data.phases
    ]
    blocks: list[Block] = []
    if scenario.description:
        blocks.append(Paragraph(scenario.description.strip()))
    blocks.append(Paragraph(text))
    blocks.append(design_config_table(analysis))
    blocks.append(
        Table(
            ["phase", "from (s)", "to (s)", "provider", "shaded on charts: what changed"],
            rows,
            ["l", "r", "r", "l", "l"],
        )
    )
    return blocks


def design_config_table(analysis: ScenarioAnalysis) -> Table:
    """The knobs that set each design's capacity, from its own manifest entry."""
    rows = []
    for name, design in analysis.data.designs.items():
        config = design.config
        queued = design.uses_queue
        rows.append(
            [
                name,
                design.kind,
                concurrency_text(design),
                _text(config.workers) if queued else "–",
                _text(config.prefetch) if queued else "–",
                f"{_text(config.provider_timeout_s)} s",
                _text(config.max_attempts) if queued else "–",
            ]
        )
    header = [
        "design",
        "kind",
        "concurrency (requests held at once)",
        "workers",
        "prefetch",
        "provider timeout",
        "attempts",
    ]
    return Table(header, rows, ["l", "l", "l", "r", "r", "r", "r"])


def concurrency_text(design: DesignData) -> str:
    """How the design's server holds requests: ``4 processes``, ``2 processes × 8 threads
    = 16``, ``event loop × 2 processes``."""
    config = design.config
    processes = config.server_processes
    plural = "" if processes == 1 else "es"
    counted = f"{processes} process{plural}" if processes is not None else "processes"
    if design.concurrency == "threads":
        threads = config.server_threads
        total = f" = {processes * threads}" if processes and threads else ""
        return f"{counted} × {_text(threads) or '?'} threads{total}"
    if design.concurrency == "event-loop":
        return f"event loop × {counted}" if processes is not None else "event loop"
    return counted


def chart_blocks(files: dict[str, list[Path]], level: int = 3, prefix: str = "") -> list[Block]:
    blocks: list[Block] = []
    for chart in CHARTS:
        paths = files.get(chart.name)
        if not paths:
            continue
        png = next((p for p in paths if p.suffix == ".png"), paths[0])
        svg = next((p for p in paths if p.suffix == ".svg"), None)
        blocks.append(Heading(level, prefix + chart.title))
        blocks.append(Image(png, chart.title, chart.how_to_read, svg))
    return blocks


def phase_figures(analysis: ScenarioAnalysis, endpoint: str) -> list[Block]:
    """Counts, failures and HDR latency percentiles per phase and design for one endpoint, as
    two tables (counts, then latencies) with a row per phase and design: more designs make
    them longer, never wider, and each fits a 1,400 px screen and a printed page."""
    counts, latencies = [], []
    timeout = analysis.data.summary.client_timeout_s
    windows = ["overall"] + [p.name for p in analysis.data.phases]
    for window in windows:
        for name, design in analysis.data.designs.items():
            block = design.summary.endpoint(endpoint)
            stats = block.overall if window == "overall" else block.phases.get(window)
            if stats is None:
                continue
            latency = stats.latency_ms
            share = stats.error_rate_ci
            failed = numbers.pct(stats.error_rate)
            if share is not None and stats.count:
                failed += f" [{numbers.interval(share.low, share.high, '%')}]"
            warmup = numbers.count(block.warmup_count) if window == "overall" else ""
            counts.append(
                [
                    window,
                    name,
                    numbers.count(stats.count),
                    warmup,
                    numbers.count(stats.ok),
                    numbers.count(stats.errors),
                    numbers.count(stats.timeouts),
                    failed,
                    numbers.rate(stats.goodput),
                ]
            )
            latencies.append(
                [
                    window,
                    name,
                    *[percentile_cell(latency, key, timeout) for key in PERCENTILE_COLUMNS],
                    numbers.ms(latency.max),
                    _p95(stats.ok_latency_ms, timeout),
                    _p95(stats.failed_latency_ms, timeout),
                ]
            )
    count_header = [
        "phase",
        "design",
        "requests",
        "warm-up (not counted)",
        "2xx",
        "errors",
        "timeouts",
        "failed [95% CI]",
        "goodput",
    ]
    latency_header = [
        "phase",
        "design",
        "p50",
        "p95 [95% CI]",
        "p99",
        "p99.9",
        "max",
        "p95 of 2xx",
        "p95 of failed",
    ]
    return [
        Table(count_header, counts, ["l", "l"] + ["r"] * (len(count_header) - 2)),
        Table(latency_header, latencies, ["l", "l"] + ["r"] * (len(latency_header) - 2)),
    ]


def phase_table_note(timeout_s: float | None) -> str:
    """How to read the phase tables: counts, intervals, the timeout bound, n/a."""
    return (
        "Requests are counted by the time they were scheduled; the warm-up's requests were "
        "sent but are in no figure. Latency from the scheduled time; in brackets the 95 % "
        "interval (bootstrap over the window's requests; Wilson for the failed share). "
        f"**{numbers.timeout_bound(timeout_s)}**: the percentile reached the client timeout "
        "— the client's patience, not a latency. **n/a**: the window has fewer than "
        f"{TAIL_SAMPLES} requests beyond the percentile (p95 needs ≥ {min_count(95):,} "
        f"requests, p99 ≥ {min_count(99):,}, p99.9 ≥ {min_count(99.9):,}). p95 of 2xx / of "
        "failed: the successful and the failed requests apart, as Gatling reports them."
    )


#: the percentile columns of the phase tables; p95 carries its interval
PERCENTILE_COLUMNS = ("p50", "p95", "p99", "p99_9")


def percentile_cell(block: Percentiles, key: str, timeout_s: float | None) -> str:
    """``7.0 ms``, ``7.0 ms [6.1–8.2]`` for p95, ``≥ 5 s (timeout)``, ``n/a (… requests)``."""
    if key in block.at_timeout:
        return numbers.timeout_bound(timeout_s)
    if key in block.unavailable:
        return "n/a"
    text = numbers.ms(block.value(key))
    interval = block.ci.get(key)
    if key == "p95" and interval is not None:
        text += f" [{numbers.interval(interval.low, interval.high, 'ms')}]"
    return text


def _p95(block: Percentiles | None, timeout_s: float | None) -> str:
    if block is None or not block.count:
        return numbers.DASH
    return percentile_cell(block, "p95", timeout_s)


LEDGER_ROWS = (
    ("emails", "owed", "owed (users created)"),
    ("emails", "owed_measured", "… by signups of the measured part"),
    ("emails", "owed_warmup", "… by warm-up signups"),
    ("emails", "delivered", "delivered exactly once"),
    ("emails", "lost", "lost"),
    ("emails", "duplicates", "delivered more than once"),
    ("emails", "dead_lettered", "dead-lettered"),
    ("emails", "pending", "pending after the drain"),
    ("emails", "orphaned", "orphaned (email for a user not stored)"),
    ("emails", "duplicate_attempts", "repeat attempts the provider deduplicated"),
    ("consistency", "stored_but_failed", "client saw a failure, user stored"),
    ("consistency", "acknowledged_but_missing", "client saw 2xx, user missing"),
)


def _ledger_count(design: DesignData, block: str, key: str) -> int | None:
    emails = design.summary.emails
    counts = emails if block == "emails" else design.summary.consistency
    if emails is None or counts is None:
        return None
    if key == "owed_measured":
        return emails.owed_measured
    value = counts.model_dump().get(key)
    return value if isinstance(value, int) else None


def _ledger_cell(design: DesignData, block: str, key: str) -> str:
    """A count, or for a run without a ledger "n/a — tables could not be exported: ..." on
    the first row and "n/a" below it."""
    if design.summary.emails is None:
        return design.summary.no_ledger if key == LEDGER_ROWS[0][1] else "n/a"
    return numbers.count(_ledger_count(design, block, key))


def ledger_table(analysis: ScenarioAnalysis) -> Table:
    designs = analysis.data.designs
    rows = [
        [label, *[_ledger_cell(d, block, key) for d in designs.values()]]
        for block, key, label in LEDGER_ROWS
    ]
    return Table(["", *designs], rows, ["l"] + ["r"] * len(designs))


def queue_table(analysis: ScenarioAnalysis) -> Table | None:
    queued = [d for d in analysis.data.designs.values() if d.uses_queue]
    if not queued:
        return None
    rows = []
    for design in queued:
        queue = design.summary.queue
        drained = queue.drained if queue else None
        rows.append(
            [
                design.name,
                numbers.count(queue.max_backlog if queue else None),
                numbers.count(queue.max_depth if queue else None),
                numbers.count(design.summary.retries),
                numbers.count(design.summary.dead_lettered),
                numbers.seconds(queue.drain_seconds if queue else None),
                "yes" if drained else ("no" if drained is False else "–"),
                _recovered(analysis, design),
                numbers.rate(analysis.drain_rates.get(design.name)),
            ]
        )
    header = [
        "design",
        "max backlog (jobs)",
        "max ready in queues",
        "retries",
        "dead-lettered",
        "drain after load end",
        "drained",
        "backlog back to healthy after the fault",
        "drain rate while workers saturated",
    ]
    return Table(header, rows, ["l"] + ["r"] * 8)


#: how far a job event may lie outside its span and still agree (the cross-check's)
TRACE_TOLERANCE_MS = TOLERANCE_S * 1000

SERVER_LATENCY_NOTE = (
    "The server's figures come from its own latency histogram (Prometheus, "
    "`metrics.csv`), estimated within its buckets; the client's are the load generator's, "
    "sent → answer, of the measured signups that got an answer. The gap is time a request "
    "waited before the application was handed it: in a busy server's listen backlog, in the "
    "kernel, on the wire. Designs run without metrics are not listed."
)


def server_latency_table(analysis: ScenarioAnalysis) -> Table | None:
    """``POST /users`` as the server and as the client measured it (None: no metrics)."""
    frame = analysis.tables.get("server_latency")
    if frame is None or frame.empty:
        return None
    rows = [
        [
            str(row["design"]),
            numbers.count(row["client_answers"]),
            numbers.count(row["server_requests"]),
            *(
                numbers.ms(row[f"{side}_{q}_ms"])
                for q in ("p50", "p99")
                for side in ("client", "server", "gap")
            ),
        ]
        for row in frame.to_dict("records")
    ]
    header = [
        "design",
        "answers (client)",
        "requests (server)",
        "p50 client",
        "p50 server",
        "p50 gap",
        "p99 client",
        "p99 server",
        "p99 gap",
    ]
    return Table(header, rows, ["l"] + ["r"] * 8)


TRACE_PARTS = {
    "accept": "accept (sent → publish starts)",
    "queue": "waiting in the queue",
    "retry_delays": "retry delays",
    "sending": "sending (attempts)",
    "end_to_end": "end to end (sent → email accepted)",
}


def trace_breakdown_table(analysis: ScenarioAnalysis) -> Table | None:
    """Where the queue-backed designs' end-to-end time goes, from the traces (None: no
    design ran with tracing, or none delivered a traced signup)."""
    frame = analysis.tables.get("trace_breakdown")
    if frame is None or frame.empty:
        return None
    rows = [
        [
            str(row["design"]),
            TRACE_PARTS[str(row["part"])],
            numbers.count(row["signups"]),
            numbers.ms(row["mean_ms"]),
            numbers.ms(row["p50_ms"]),
            numbers.ms(row["p95_ms"]),
            f"{row['share_of_mean'] * 100:.0f} %",
        ]
        for row in frame.to_dict("records")
    ]
    header = ["design", "part", "signups", "mean", "p50", "p95", "share of the mean"]
    return Table(header, rows, ["l", "l"] + ["r"] * 5)


def trace_check_sentences(analysis: ScenarioAnalysis) -> str:
    """Whether the breakdown agrees with ``job_events.csv``, per design, in words."""
    frame = analysis.tables.get("trace_check")
    if frame is None or frame.empty:
        return ""
    sentences = []
    for row in frame.to_dict("records"):
        if not row["traced_signups"]:
            sentences.append(
                f"**{row['design']}: tracing was on, but not one measured signup's trace is "
                f"complete** (spans came only from: {row['services']}), so its time is not "
                "split: a component wrote no spans — see its log."
            )
            continue
        verdict = "agrees" if row["agree"] else "does not agree"
        sentences.append(
            f"{row['design']}: `job_events.csv` {verdict} with the traces — "
            f"{row['jobs_agreeing']} of {row['jobs_checked']} jobs have one `sending` event "
            "per attempt span, each inside its span, and their `delivered` event inside the "
            f"accepting attempt's (farthest outside: {row['worst_outside_ms']:.1f} ms; "
            f"tolerance {TRACE_TOLERANCE_MS:g} ms); the parts add up to the end-to-end time "
            f"within {row['parts_sum_error_ms']:.3f} ms."
        )
    return " ".join(sentences)


TRACE_NOTE = (
    "From the spans in `traces.otlp.jsonl` (tracing on), of the measured signups whose email "
    "was accepted: accept runs from the generator sending the signup to the API starting to "
    "publish its job; waiting in the queue from there to the first attempt; retry delays "
    "from each failed attempt's end to the next one's start; sending is the attempts "
    "themselves, up to the provider's acceptance. Definitions: docs/observability.md."
)


def _recovered(analysis: ScenarioAnalysis, design: DesignData) -> str:
    recovery = backlog_recovery(
        queue_series(design.queues), analysis.data.phases, analysis.disturbed
    )
    if recovery is None:
        return "–"
    return "not in the recording" if recovery[1] is None else f"{recovery[1]:.1f} s"


def cost_table(analysis: ScenarioAnalysis) -> Table:
    rows = []
    for name, design in analysis.data.designs.items():
        c = cost_figures(design.summary)
        rows.append(
            [
                name,
                ", ".join(c.components),
                numbers.seconds(c.cpu_own_s),
                numbers.count(c.ok_signups),
                numbers.seconds(c.cpu_per_1000_signups),
                f"{c.peak_rss_own_mb:,.0f} MB",
                f"{numbers.seconds(c.generator_cpu_s)} ({c.generator_cpu_percent}% of a core)",
                "**SATURATED**" if c.generator_saturated else "no",
            ]
        )
    header = [
        "design",
        "its components",
        "CPU",
        "2xx signups",
        "CPU per 1,000 signups",
        "peak RSS (sum)",
        "load generator CPU",
        "generator saturated",
    ]
    return Table(header, rows, ["l", "l", "r", "r", "r", "r", "r", "l"])


def stack_floor_blocks(analysis: ScenarioAnalysis) -> list[Block]:
    """Each design's server CPU per signup beside its stack alone (``load.stack_floor``;
    nothing when the scenario did not ask for it)."""
    rows = [
        [
            share.design,
            share.stack,
            f"{share.stack_ms:.2f} ms",
            NO_2XX if share.server_ms is None else f"{share.server_ms:.2f} ms",
            "–" if share.beyond_stack_ms is None else f"{share.beyond_stack_ms:+.2f} ms",
        ]
        for share in stack_shares(analysis.data.summary)
    ]
    if not rows:
        return []
    header = [
        "design",
        "its stack",
        "the stack alone, per signup",
        "the design's server, per 2xx signup",
        "what the design adds",
    ]
    return [Table(header, rows, ["l", "l", "r", "r", "r"]), Paragraph(STACK_FLOOR_NOTE)]


#: the design's server figure when no signup was answered 2xx (nothing to divide by)
NO_2XX = "– (no signup answered 2xx)"

STACK_FLOOR_NOTE = (
    "The stack alone: the design's own server command (the same server, flags and process "
    "count) with a bare app in place of the design's, which parses and validates each signup "
    "through the designs' shared edge and answers, with no database, broker or provider "
    "(`offload probe stack`), measured on this machine at the scenario's signup rate before the "
    "designs ran, with the scenario's bystander reads beside the signups (the bare app answers "
    "them without a lookup), so that both figures are the server's CPU for signups and reads "
    "alike per 2xx signup. It is what every design on that stack pays whatever its "
    "architecture; what the design adds is its own work: the database, the broker or the "
    "provider. It is one short measurement per run (its length is in summary.json, "
    "`stack_floors`), so it moves from run to run as any single run's figure does; "
    "`offload probe stack --repeat N` measures how far. See docs/measurement.md."
)


def machine_blocks(analysis: ScenarioAnalysis) -> list[Block]:
    """The machine's CPU beside each design's run: whether other processes or steal took it
    (none for runs recorded before machine sampling)."""
    rows = []
    for name, design in analysis.data.designs.items():
        machine = design.summary.machine
        if machine is None:
            continue
        rows.append(
            [
                name,
                str(machine.cores),
                _share_cell(machine.busy_share),
                _share_cell(machine.other_processes_share),
                _share_cell(machine.steal_share),
                numbers.pct(machine.iowait_share.mean),
                _design_share_cell(machine),
                "**BUSY**" if machine.busy else "no",
            ]
        )
    if not rows:
        return []
    header = [
        "design",
        "cores",
        "machine busy",
        "other processes",
        "steal",
        "iowait",
        "the design's own",
        "busy machine",
    ]
    return [
        Table(header, rows, ["l", "r", "r", "r", "r", "r", "r", "l"]),
        Paragraph(
            "Shares of all the machine's cores over the measured part: the mean, and the "
            "busiest second in brackets. Other processes = the machine's busy time minus the "
            "CPU of the run's own processes (its components, the load generator, the provider, "
            "the harness); steal = CPU the hypervisor gave to other machines. A busy machine "
            f"(other processes ≥ {BUSY_OTHER_PROCESSES_SHARE:.0%} or steal ≥ "
            f"{BUSY_STEAL_SHARE:.0%} of all cores in some second) explains a load generator "
            "that fell behind its schedule; such a run is invalid as *the machine was busy*, "
            "not as a saturated generator. The design's own = the CPU of its components "
            "(broker included, not the rig): when the machine was full "
            f"(≥ {MACHINE_FULL_SHARE:.0%}) and the design used ≥ {DESIGN_MOST_SHARE:.0%} of all "
            "cores in the same second (**FILLED**), a generator that fell behind was starved by "
            "the design under test — invalid as *the design saturated the machine*."
        ),
    ]


def _design_share_cell(machine: MachineLoad) -> str:
    """The design's own share of the machine, FILLED when it filled it in some second."""
    if machine.design_share is None:
        return numbers.DASH
    return _share_cell(machine.design_share) + (" **FILLED**" if machine.design_filled else "")


def _share_cell(share: Share) -> str:
    return f"{numbers.pct(share.mean)} ({numbers.pct(share.max)})"


def capacity_blocks(analysis: ScenarioAnalysis, level: int = 2, prefix: str = "") -> list[Block]:
    blocks: list[Block] = [
        Heading(level, prefix + "Capacity model: predicted vs measured"),
        Paragraph(
            "Little's law from the configuration and the provider's latency L in each phase. "
            "**Sync** (a server of processes or threads): each server process (× "
            "`server_threads` on a threaded server) holds one signup for L, so at most "
            "`server_processes ÷ L` signups/s are processed; the excess waits in the "
            "server's FIFO listen queue and carries into the next phase, and a request that waited "
            "longer than the client timeout is processed for nobody — goodput counts only "
            "answers to clients still waiting, times the share of provider calls that "
            "succeed. **Async**: each worker "
            "holds `prefetch` jobs at once, so jobs drain at `workers × prefetch ÷ L` per "
            "second; the backlog grows at `arrival − drain` when positive, plus `throughput × "
            "E[T]` jobs in flight (E[T] includes retry delays). Measured: signups processed = "
            "requests the provider received per second; goodput = 2xx answers that arrived "
            "in the phase; backlog = the highest 1 Hz sample."
        ),
    ]
    blocks.extend(Paragraph(gap) for gap in analysis.capacity_gaps)
    rows = []
    for e in analysis.estimates:
        gap = e.disagreement
        flag = "" if gap is None else f"**{gap:+.0%}**"
        rows.append(
            [
                e.design,
                e.phase,
                e.quantity,
                numbers.value(e.predicted, e.unit),
                numbers.value(e.measured, e.unit),
                flag,
                e.basis,
            ]
        )
    if rows:
        blocks.append(
            Table(
                [
                    "design",
                    "phase",
                    "quantity",
                    "predicted",
                    "measured",
                    f"off by > {DISAGREEMENT:.0%}",
                    "basis",
                ],
                rows,
                ["l", "l", "l", "r", "r", "r", "l"],
            )
        )
    if analysis.capacity_notes:
        blocks.append(Paragraph("Where the model and the measurement disagree:"))
        blocks.append(BulletList(analysis.capacity_notes))
    elif rows:
        blocks.append(
            Paragraph(f"Predictions and measurements agree within {DISAGREEMENT:.0%} everywhere.")
        )
    return blocks


TABLE_FILES = {
    "metrics": "every summary.json figure, long form: design, phase, endpoint, metric, value",
    "phases": "the phases of the fault timeline and whether each is shaded",
    "spectrum": "HDR latency at p50 … p99.99 per design, endpoint and phase",
    "timeseries": "every per-second series drawn in the charts: design, t_s, series, value",
    "completion": "per signup: response latency and end-to-end time (ms)",
    "ledger": "the delivery ledger and consistency counts per design",
    "resources": "CPU seconds and peak RSS per component",
    "cost": "CPU per 1,000 successful signups and the generator's own CPU",
    "capacity": "the capacity model: predicted vs measured per design and phase",
    "verdicts": "the verdict table, long form",
    "claims": "the five claims with status and evidence",
    "rankings": "every design's place on every metric, best first, with its interval",
    "controls": "is it the queue? is it the concurrency model? — answers and evidence",
}


def data_blocks(prefix: str = "") -> list[Block]:
    items = [
        f"[`{prefix}tables/{name}.csv`]({prefix}tables/{name}.csv): {text}"
        for name, text in TABLE_FILES.items()
    ]
    return [
        Paragraph(
            "Every figure above is computed from the raw records in this folder "
            "(`<design>/requests.csv`, `provider-log.jsonl`, `queues.csv`, `samples.csv`, "
            "`machine.csv`, `users.csv`, `jobs.csv`, `job_events.csv`; with metrics or "
            f"tracing on, `metrics.csv` and `traces.otlp.jsonl`); definitions: {DOCS}. "
            "Requests "
            "scheduled during the warm-up are in `requests.csv` (phase `warmup`) but in no "
            "figure; Locust's own files in `<design>/locust/` include the warm-up and are "
            "not used for any figure. Tidy tables:"
        ),
        BulletList(items),
    ]


def _text(value: object) -> str:
    return "" if value is None else str(value)
