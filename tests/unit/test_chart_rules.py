"""How the charts of a scenario are drawn, on a small recorded run: one x range for every
time chart, no panel that can only be empty, no reference line that stretches an axis far
from the data, and Locust's own files labelled as including the warm-up."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from offload.analysis.comparison import ScenarioAnalysis, analyse_scenario
from offload.report import charts_time
from offload.report.render import label_locust_files
from offload.report.style import design_colours
from tests.factories.records import build_run

TIME_CHARTS = (
    charts_time.latency_over_time,
    charts_time.throughput_and_errors,
    charts_time.bystanders,
    charts_time.queue_internals,
)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> ScenarioAnalysis:
    run_dir = build_run(tmp_path_factory.mktemp("charts"))
    return analyse_scenario(run_dir / "synthetic")


def _context(analysis: ScenarioAnalysis) -> charts_time.TimeContext:
    return charts_time.TimeContext(analysis, design_colours(analysis.data.designs))


def test_every_time_chart_of_a_scenario_spans_the_same_seconds(analysis):
    ranges = set()
    for draw in TIME_CHARTS:
        fig = draw(_context(analysis))
        ranges |= {tuple(round(x, 6) for x in ax.get_xlim()) for ax in fig.axes}
        plt.close(fig)
    assert len(ranges) == 1, ranges
    (low, high), context = ranges.pop(), _context(analysis)
    assert low == 0 and high >= context.duration


def test_failures_are_counted_in_the_second_they_were_scheduled(analysis):
    outcomes = _context(analysis).outcomes
    for name, frame in outcomes.items():
        signups = analysis.data.designs[name].stream("signup")
        assert frame["offered"].sum() == len(signups)
        assert frame.drop(columns="offered").sum(axis=1).equals(frame["offered"])
        assert frame.index.max() < _context(analysis).duration


def _panel_titles(context: charts_time.TimeContext) -> list[str]:
    fig = charts_time.queue_internals(context)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    plt.close(fig)
    return titles


def test_the_queue_chart_draws_retries_only_when_a_job_was_retried(analysis):
    context = _context(analysis)
    assert set(charts_time._retry_series(context)) == {"async"}  # the recorded run retried
    titles = _panel_titles(context)
    assert len(titles) == 3 and titles[2].startswith("Retries")

    calm = _context(analysis)
    for series in calm.series.values():
        for column in ("retries_per_s", "dead_lettered_per_s"):
            if column in series:
                series[column] = 0.0
    titles = _panel_titles(calm)
    assert len(titles) == 2
    assert "no retries and no dead letters in any design" in titles[0]


def test_a_client_timeout_far_above_the_data_is_named_not_drawn(analysis):
    context = _context(analysis)
    assert context.client_timeout_s
    fig = charts_time.bystanders(context)
    top = fig.axes[0]
    labels = [line.get_label() for line in top.lines]
    _low, high = top.get_ylim()
    plt.close(fig)
    assert not any("client timeout" in label for label in labels)
    assert "not drawn" in top.get_title(loc="left")
    assert high < context.client_timeout_s * 1000 / charts_time.TIMEOUT_NEAR


def test_locust_files_get_a_readme_saying_they_include_the_warm_up(tmp_path: Path):
    (tmp_path / "sync" / "locust").mkdir(parents=True)
    (tmp_path / "async" / "locust").mkdir(parents=True)
    (tmp_path / "tables").mkdir()
    written = label_locust_files(tmp_path)
    assert sorted(p.parent.parent.name for p in written) == ["async", "sync"]
    for readme in written:
        assert "INCLUDE THE WARM-UP" in readme.read_text()
        assert "requests.csv" in readme.read_text()
