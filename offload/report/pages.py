"""The two report pages: one scenario, and the whole run (every scenario, headline first)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from offload.analysis.comparison import ScenarioAnalysis
from offload.analysis.ranking import Ranking, repeat_rankings
from offload.analysis.verdicts import Verdict, measurement_floor_ms, repeat_verdicts
from offload.report import sections
from offload.report.accept_section import accept_blocks
from offload.report.charts import OVERVIEW
from offload.report.document import Banner, Block, BulletList, Heading, Image, Paragraph
from offload.report.drain_section import drain_blocks
from offload.report.manifest_section import manifest_details, measured_on
from offload.rundir.run_info import RunInfo

#: the heading above the headline sentences; its anchor (``#headline``) is the page's first
#: figure a reader and the browser test look for
HEADLINE = "Headline"

INTRO = (
    "Each design ran alone on the machine under the same open-loop load while a simulated "
    "email provider turned slow, flaky or dead on a timeline. Latency is measured from the "
    "time each request was *scheduled* (no coordinated omission); percentiles come from HDR "
    'histograms of every request. "End to end" is the time from a scheduled signup until '
    "the provider accepted its welcome email."
)


def _design_lines(analysis: ScenarioAnalysis) -> list[str]:
    lines = []
    for name, design in analysis.data.designs.items():
        description = design.entry.target.description or design.kind
        lines.append(f"**{name}** ({design.kind}): {description}")
    return lines


def scenario_document(
    analysis: ScenarioAnalysis,
    charts: dict[str, list[Path]],
    problems: list[str],
    run_name: str,
    scenario_yaml: str | None,
) -> list[Block]:
    data = analysis.data
    designs = list(data.designs)
    blocks: list[Block] = [
        Heading(1, f"{data.folder}: {' vs '.join(designs) or 'no design'}"),
        *sections.invalid_banner(data.summary),
        Paragraph("**Headline.** " + sections.headline_text(analysis.headline, set(charts))),
        *sections.warning_banner(data.summary, problems),
        Paragraph(f"Run `{run_name}` · scenario `{data.name}`. {INTRO}"),
        Paragraph(measured_on(data.manifest)),
        BulletList(_design_lines(analysis)),
        Heading(2, CONTROLS),
        *sections.control_blocks(analysis.controls),
        Heading(2, "Verdict"),
        *_verdict_blocks(analysis),
        Heading(2, "Claims"),
        sections.claims_table(analysis.claims),
        Heading(2, "What ran"),
        *sections.what_ran(analysis),
        Heading(2, "Charts"),
        *sections.chart_blocks(charts),
        Heading(2, "Figures by phase"),
        Heading(3, "Signups (POST /users)"),
        *sections.phase_figures(analysis, "signup"),
        Heading(3, "Bystanders (GET /users/{id}, GET /healthz)"),
        *sections.phase_figures(analysis, "bystander"),
        Paragraph(sections.phase_table_note(data.summary.client_timeout_s)),
        sections.floor_paragraph(data.summary, brief=True),
        Heading(3, "Delivery ledger"),
        sections.ledger_table(analysis),
    ]
    queue = sections.queue_table(analysis)
    if queue is not None:
        blocks += [Heading(3, "Queue"), queue]
    blocks += drain_blocks(analysis)
    blocks += accept_blocks(analysis)
    server_latency = sections.server_latency_table(analysis)
    if server_latency is not None:
        blocks += [
            Heading(3, "Server-side vs client-side latency (POST /users)"),
            server_latency,
            Paragraph(sections.SERVER_LATENCY_NOTE),
        ]
    breakdown = sections.trace_breakdown_table(analysis)
    trace_check = sections.trace_check_sentences(analysis)
    if breakdown is not None or trace_check:
        blocks.append(Heading(3, "Where the end-to-end time goes (traces)"))
        if breakdown is not None:
            blocks += [breakdown, Paragraph(sections.TRACE_NOTE)]
        blocks.append(Paragraph(trace_check))
    blocks += [
        Heading(3, "Cost"),
        sections.cost_table(analysis),
        *sections.stack_floor_blocks(analysis),
    ]
    machine = sections.machine_blocks(analysis)
    if machine:
        blocks += [Heading(3, "Machine"), *machine]
    blocks += [
        *sections.capacity_blocks(analysis),
        Heading(2, "Data"),
        *sections.data_blocks(),
        manifest_details(data.manifest, scenario_yaml),
    ]
    return blocks


#: the heading of the control questions, near the top of a scenario page
CONTROLS = "Is it the queue, or the concurrency model?"


def _verdict_blocks(analysis: ScenarioAnalysis) -> list[Block]:
    """Two designs: the verdict table (a winner and a factor); more: a ranking per metric."""
    designs = list(analysis.data.designs)
    summary = analysis.data.summary
    if sections.many_designs(designs):
        return [
            sections.ranking_table(analysis.rankings),
            sections.floor_paragraph(summary),
            Paragraph(sections.RANKING_RULE),
            Paragraph(f"Compared with {designs and _reference(analysis)}, design by design:"),
            *[Paragraph(s) for s in analysis.sentences],
        ]
    return [
        *[Paragraph(s) for s in analysis.sentences],
        sections.verdict_table(analysis.verdicts, designs, with_scenario=False),
        sections.floor_paragraph(summary),
        Paragraph(sections.VERDICT_RULE),
    ]


def _reference(analysis: ScenarioAnalysis) -> str:
    """The design the sentences compare every other with (the first sync-kind one)."""
    designs = analysis.data.summary.designs
    return next((n for n, d in designs.items() if d.kind == "sync"), next(iter(designs)))


def run_document(
    run_dir: Path,
    run_info: RunInfo | None,
    analyses: list[ScenarioAnalysis],
    charts: dict[str, dict[str, list[Path]]],
    problems: dict[str, list[str]],
    overview: list[Path],
) -> list[Block]:
    designs: list[str] = []
    for analysis in analyses:
        designs += [d for d in analysis.data.designs if d not in designs]
    started = run_info.started_at if run_info else None
    when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC") if started else "?"
    blocks: list[Block] = [Heading(1, f"offload run {run_dir.name}: {' vs '.join(designs)}")]
    for analysis in analyses:
        blocks += sections.invalid_banner(analysis.data.summary, where=analysis.data.folder)
    if analyses:
        blocks.append(Heading(2, HEADLINE))
        blocks.append(
            BulletList(
                [
                    f"**{a.data.folder}**: "
                    + sections.headline_text(
                        a.headline,
                        set(charts.get(a.data.folder, {})),
                        prefix=f"{a.data.folder}: ",
                    )
                    for a in analyses
                ]
            )
        )
    if run_info and not run_info.complete:
        blocks.append(
            Banner(
                "invalid",
                f"the bench did not complete (status: {run_info.status})",
                ["figures cover only what was recorded before it stopped"],
            )
        )
    for analysis in analyses:
        blocks += sections.warning_banner(
            analysis.data.summary,
            problems.get(analysis.data.folder, []),
            where=analysis.data.folder,
        )
    names = ", ".join(a.data.folder for a in analyses)
    blocks += [
        Paragraph(
            f"Started {when}; {len(analyses)} scenario(s): {names}"
            + ("; **quick run** (shortened durations)." if run_info and run_info.quick else ".")
        ),
        Paragraph(INTRO),
        Paragraph(measured_on(analyses[0].data.manifest if analyses else None, run_info)),
    ]
    if analyses:
        blocks.append(BulletList(_design_lines(analyses[0])))
    blocks.append(Heading(2, "Contents"))
    blocks.append(
        BulletList(
            [
                "[Headline verdicts](#headline-verdicts)",
                "[Claims](#claims-across-the-run)",
                f"[{CONTROLS}](#{Heading(2, CONTROLS).anchor})",
            ]
            + [f"[{a.data.folder}](#{_anchor(a)})" for a in analyses]
        )
    )
    if any(sections.many_designs(list(a.data.designs)) for a in analyses):
        rankings = [r for a in analyses for r in a.rankings] + _rankings_across(analyses)
        table, rule = sections.run_ranking_table(rankings), sections.RANKING_RULE
    else:
        verdicts = [v for a in analyses for v in a.verdicts] + _across_repeats(analyses)
        table = sections.verdict_table(verdicts, designs, with_scenario=True)
        rule = sections.VERDICT_RULE
    blocks += [
        Heading(2, "Headline verdicts"),
        table,
        *[
            sections.floor_paragraph(
                a.data.summary, where=a.data.folder if len(analyses) > 1 else ""
            )
            for a in analyses
        ],
        Paragraph(rule + " Sentences per scenario below."),
    ]
    if overview:
        png = next((p for p in overview if p.suffix == ".png"), overview[0])
        svg = next((p for p in overview if p.suffix == ".svg"), None)
        blocks.append(Image(png, OVERVIEW.title, OVERVIEW.how_to_read, svg))
    blocks += [
        Heading(2, "Claims across the run"),
        Paragraph(
            "Whole run: contradicted if any scenario contradicts the claim, else supported if "
            "any supports it. Each scenario's evidence is in its section."
        ),
        sections.run_claims_table({a.data.folder: a.claims for a in analyses}),
        Heading(2, CONTROLS),
        Paragraph(
            "Judged per scenario with the control designs (inline-async: async without the "
            "queue; sync-threads and inline-async: sync under another concurrency model); the "
            "answer and its evidence, metric by metric, are in each scenario's section."
        ),
        sections.run_controls_table({a.data.folder: a.controls for a in analyses}),
    ]
    for analysis in analyses:
        blocks += _scenario_section(analysis, charts.get(analysis.data.folder, {}))
    first = analyses[0].data.manifest if analyses else None
    blocks.append(manifest_details(first, None, run_info))
    return blocks


def _across_repeats(analyses: list[ScenarioAnalysis]) -> list[Verdict]:
    """For each scenario the run repeated, its verdicts on the spread between the repeats."""
    by_scenario: dict[str, list[ScenarioAnalysis]] = {}
    for analysis in analyses:
        by_scenario.setdefault(analysis.data.name, []).append(analysis)
    verdicts = []
    for repeats in by_scenario.values():
        summaries = [a.data.summary for a in repeats]
        verdicts += repeat_verdicts(summaries, measurement_floor_ms(summaries[0]))
    return verdicts


def _rankings_across(analyses: list[ScenarioAnalysis]) -> list[Ranking]:
    """For each scenario the run repeated, its rankings on the spread between the repeats."""
    by_scenario: dict[str, list[ScenarioAnalysis]] = {}
    for analysis in analyses:
        by_scenario.setdefault(analysis.data.name, []).append(analysis)
    rankings = []
    for repeats in by_scenario.values():
        summaries = [a.data.summary for a in repeats]
        rankings += repeat_rankings(summaries, measurement_floor_ms(summaries[0]))
    return rankings


def _anchor(analysis: ScenarioAnalysis) -> str:
    return Heading(2, _section_title(analysis)).anchor


def _section_title(analysis: ScenarioAnalysis) -> str:
    return f"Scenario {analysis.data.folder}"


def _scenario_section(analysis: ScenarioAnalysis, charts: dict[str, list[Path]]) -> list[Block]:
    folder = analysis.data.folder
    blocks: list[Block] = [
        Heading(2, _section_title(analysis)),
        *sections.what_ran(analysis),
        Heading(3, f"{folder}: verdict"),
        *[Paragraph(s) for s in analysis.sentences],
        Heading(3, f"{folder}: {CONTROLS.lower()[:1]}{CONTROLS[1:]}"),
        *sections.control_blocks(analysis.controls),
        Heading(3, f"{folder}: claims"),
        sections.claims_table(analysis.claims),
        *sections.chart_blocks(charts, level=3, prefix=f"{folder}: "),
        *sections.capacity_blocks(analysis, level=3, prefix=f"{folder}: "),
        Paragraph(
            f"This scenario's own report, with every table: [{folder}/report.html]"
            f"({folder}/report.html) · [{folder}/report.md]({folder}/report.md); its data: "
            f"`{folder}/tables/*.csv`."
        ),
    ]
    return blocks
