"""The broker probe beside a design's load, as the harness starts and collects it: a probe
that measured nothing is named with its exit code and log, never read as a figure; one that
never ends is stopped at the bound. (The probe against a real broker is in the e2e bench.)"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from offload.run import probe_beside
from offload.run.probe_beside import URL_ENV, finish_probe, main, start_probe
from offload.run.supervisor import ProcessSpec, Supervisor


def _process(supervisor: Supervisor, tmp_path: Path, code: str):
    return supervisor.start(
        ProcessSpec(
            name="broker-probe",
            argv=[sys.executable, "-c", code],
            log_path=tmp_path / "logs" / "broker-probe.log",
            stop_timeout=1,
        )
    )


def test_a_probe_that_fails_makes_a_reason_with_its_exit_code_and_log(tmp_path: Path):
    with Supervisor() as supervisor:
        probe = _process(
            supervisor,
            tmp_path,
            "import sys; print('the broker probe failed: refused'); sys.exit(1)",
        )
        reason = finish_probe(probe, tmp_path)
    assert reason is not None
    assert "exited with code 1" in reason
    assert "the broker probe failed: refused" in reason
    assert not supervisor.crashed()  # collected on purpose: not a crash of the design


def test_a_probe_that_never_ends_is_stopped_at_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(probe_beside, "FINISH_TIMEOUT_S", 0.5)
    with Supervisor() as supervisor:
        probe = _process(supervisor, tmp_path, "import time; time.sleep(60)")
        started = time.monotonic()
        reason = finish_probe(probe, tmp_path)
        assert time.monotonic() - started < 5
        assert not probe.alive
    assert reason is not None and "still running 0.5 s after" in reason


def test_without_the_brokers_url_the_probe_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv(URL_ENV, raising=False)
    args = ["--rate", "10", "--start", "0", "--duration", "1", "--out", str(tmp_path / "p.json")]
    assert main(args) == 2
    assert URL_ENV in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_a_probe_that_ends_by_itself_is_no_crash_of_the_design_and_its_failure_is_named(
    tmp_path: Path,
):
    """The probe's process may end before the generator does: the design's run must not read
    that as a component crashing (which stops the run); how it ended is judged afterwards —
    here a broker that refuses the connection, named with the probe's own message."""
    with Supervisor() as supervisor:
        probe = start_probe(
            supervisor,
            tmp_path,
            amqp_url="amqp://guest:guest@127.0.0.1:1/%2F",  # nothing listens on port 1
            rate=10,
            t0_epoch=time.time(),
            duration_s=0.5,
        )
        assert probe.wait(30)
        assert not supervisor.crashed()
        reason = finish_probe(probe, tmp_path)
    assert reason is not None and "exited with code 1" in reason
    assert "the broker probe failed" in reason


def test_an_external_queue_backed_design_is_named_as_unprobed_and_no_other(tmp_path: Path):
    from offload.scenario import load_scenario
    from offload.target.manifest import resolve_target

    scenario = load_scenario(Path("scenarios/high-rate.yaml"))  # broker_probe_rate: 20/s
    external = resolve_target("targets/examples/external-async")
    reason = probe_beside.unprobed(scenario, external, "mine")
    assert reason is not None
    assert reason.startswith("mine: no broker probe beside its load")
    assert "external target" in reason
    # a design whose broker offload administers gets its probe; one without a broker needs none
    assert probe_beside.unprobed(scenario, resolve_target("async"), "async") is None
    assert probe_beside.unprobed(scenario, resolve_target("sync"), "sync") is None
    # a scenario that asks for no probe names nothing
    baseline = load_scenario(Path("scenarios/baseline.yaml"))
    assert probe_beside.unprobed(baseline, external, "mine") is None
