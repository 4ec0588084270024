"""Everything one scenario's comparison report shows, computed once from its folder.

``analyse_scenario`` is the one entry point the report renderer calls: it loads the records,
judges the verdicts and claims, runs the capacity model and builds the tidy tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from offload.analysis import tables
from offload.analysis.capacity import (
    Estimate,
    capacity_model,
    disagreements,
    reason_family,
    saturated_drain_rates,
    unmodelled,
)
from offload.analysis.claims import Claim, evaluate_claims
from offload.analysis.controls import ControlClaim, control_claims
from offload.analysis.headline import HeadlineSentence, scenario_headline
from offload.analysis.phases import disturbed_phases, phase_labels
from offload.analysis.ranking import Ranking, scenario_rankings
from offload.analysis.scenario_data import ScenarioData, load_scenario_dir
from offload.analysis.server_latency import server_client_table
from offload.analysis.trace_breakdown import breakdown_tables
from offload.analysis.verdicts import (
    Verdict,
    measurement_floor_ms,
    scenario_sentences,
    scenario_verdicts,
)


@dataclass
class ScenarioAnalysis:
    data: ScenarioData
    verdicts: list[Verdict]
    sentences: list[str]
    claims: list[Claim]
    estimates: list[Estimate]
    capacity_notes: list[str]
    drain_rates: dict[str, float]
    disturbed: set[str]
    #: what changed in each phase, for chart labels
    phase_labels: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: one sentence per design the capacity model cannot predict, saying why
    capacity_gaps: list[str] = field(default_factory=list)
    #: three sentences for the top of the page, each naming its chart
    headline: list[HeadlineSentence] = field(default_factory=list)
    #: every design ranked on each metric (what the page shows for more than two designs)
    rankings: list[Ranking] = field(default_factory=list)
    #: is it the queue? is it the concurrency model? — judged with the control designs
    controls: list[ControlClaim] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.data.name


def analyse_scenario(directory: Path) -> ScenarioAnalysis:
    """Load a scenario folder and compute every verdict, claim, estimate and table."""
    data = load_scenario_dir(directory)
    summary = data.summary
    estimates = capacity_model(data)
    drain_rates = saturated_drain_rates(data)
    floor = measurement_floor_ms(summary)
    disturbed = disturbed_phases(data.scenario, data.phases)
    labels = phase_labels(data.scenario, data.phases)
    analysis = ScenarioAnalysis(
        data=data,
        verdicts=scenario_verdicts(summary, floor),
        sentences=scenario_sentences(summary, floor),
        claims=evaluate_claims(summary, data.manifest, drain_rates),
        estimates=estimates,
        capacity_notes=disagreements(
            estimates, {n: reason_family(d) for n, d in data.designs.items()}
        ),
        capacity_gaps=unmodelled(data),
        drain_rates=drain_rates,
        disturbed=disturbed,
        phase_labels=labels,
        headline=scenario_headline(summary, disturbed, labels),
        rankings=scenario_rankings(summary, floor),
        controls=control_claims(summary, data.manifest),
    )
    analysis.tables = {
        "metrics": tables.metrics_table(data),
        "phases": tables.phases_table(data),
        "spectrum": tables.spectrum_table(data),
        "timeseries": tables.timeseries_table(data),
        "completion": tables.completion_table(data),
        "ledger": tables.ledger_table(data),
        "resources": tables.resources_table(data),
        "cost": tables.cost_table(data),
        "capacity": tables.capacity_table(data.name, estimates),
        "verdicts": tables.verdicts_table(analysis.verdicts),
        "claims": tables.claims_table(data.name, analysis.claims),
        "rankings": tables.rankings_table(analysis.rankings),
        "controls": tables.controls_table(data.name, analysis.controls),
        "server_latency": server_client_table(data),
    }
    analysis.tables["trace_breakdown"], analysis.tables["trace_check"] = breakdown_tables(data)
    return analysis
