"""``--load-workers auto``: the bench gives each scenario as many generator processes as its
peak rate needs, so a rate one process cannot offer is accepted rather than refused."""

from __future__ import annotations

from offload.cli import build_parser
from offload.run.load_workers import resolve_load_workers
from offload.run.orchestrator import BenchPlan, prepare


def test_auto_accepts_what_one_process_cannot_offer_and_sizes_it(tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text("name: fast\nload: {rate: 1500/s, duration: 30s, bystander_rate: 100/s}\n")

    [prepared] = prepare(BenchPlan(scenario_files=[path], load_workers="auto"))

    assert resolve_load_workers("auto", prepared.scenario) == 2  # 1,600/s ÷ 1,000/s
    assert resolve_load_workers(3, prepared.scenario) == 3


def test_the_bench_and_the_sweep_take_auto_on_the_command_line():
    parser = build_parser()
    assert parser.parse_args(["bench", "--load-workers", "auto"]).load_workers == "auto"
    assert parser.parse_args(["bench", "--load-workers", "2"]).load_workers == 2
    assert parser.parse_args(["bench"]).load_workers == 1
    assert parser.parse_args(["sweep"]).load_workers == "auto"
