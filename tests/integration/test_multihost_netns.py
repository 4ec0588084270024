"""Load workers on other hosts, for real, without leaving the machine: the target, the Locust
master (``offload bench --master-bind``) and two ``offload load-worker`` processes each in a
network namespace of its own, joined by a bridge in a fifth namespace, with addresses from the
benchmarking range 198.18.0.0/15 (RFC 2544) only. Nothing is added to this machine's own
namespace; every namespace (and its veth ends with it) is removed in a ``finally``.

The target is the reference sync design, started by ``offload up --host`` in its namespace:
an external target to the bench, which starts offload's provider on the master's address for
it to call and reads its ledger from the design's ``GET /ledger`` across the bridge.

Skipped, with the reason, where namespaces cannot be created (not root, no ``ip``). The
bounds (a master whose workers never join, a worker whose master never answers) need no
namespace and run on loopback.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.plan import LoadPlan
from loadtests.schedule import merge_streams
from offload.ports import free_port
from tests.factories.netns import add_namespace_or_skip, delete_namespace, ip
from tests.factories.validity import assert_measured

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PYTHON = [sys.executable, "-m", "offload"]
#: one /24 of 198.18.0.0/15 on the bridge: every "host" gets one address of it
ADDRESSES = {"master": "198.18.0.1", "target": "198.18.0.2", "w0": "198.18.0.3", "w1": "198.18.0.4"}
PORT, MASTER_PORT, PROVIDER_PORT = 8000, 5557, 18025
RATE, DURATION, WARMUP = 10, 4, 1

SCENARIO = f"""
name: multihost
load: {{rate: {RATE}/s, arrivals: constant, duration: {DURATION}s, warmup: {WARMUP}s}}
client: {{timeout: 5s}}
targets: [remote]
"""


def manifest(host: str, port: int, provider: str | None = None) -> str:
    """An external sync target at ``host:port``. With ``provider`` (HOST:PORT): the reference
    design, calling offload's provider there, its ledger read from its own ledger endpoint;
    without: any server, no provider and no ledger."""
    if provider is None:
        sources = 'provider = "none"\nledger = "none"'
    else:
        sources = (
            f'provider = "offload"\nprovider_listen = "{provider}"\n'
            f'ledger = "http://{host}:{port}/ledger"'
        )
    return f"""
name = "remote"
kind = "external"

[external]
design = "sync"
url = "http://{host}:{port}"
{sources}
"""


@pytest.fixture
def hosts() -> Iterator[dict[str, str]]:
    """A namespace per host name in ADDRESSES, all on one bridge; skipped where namespaces
    cannot be made. Yields host name -> namespace name."""
    tag = uuid.uuid4().hex[:5]
    switch = f"offload-sw-{tag}"
    add_namespace_or_skip(switch)
    made = [switch]
    try:
        ip("-n", switch, "link", "add", "br0", "type", "bridge")
        ip("-n", switch, "link", "set", "br0", "up")
        namespaces = {}
        for i, (host, address) in enumerate(ADDRESSES.items()):
            namespace = f"offload-{host}-{tag}"
            ip("netns", "add", namespace)
            made.append(namespace)
            inside, port = f"vo{tag}{i}h", f"vo{tag}{i}s"
            ip("link", "add", inside, "type", "veth", "peer", "name", port)
            ip("link", "set", port, "netns", switch)
            ip("link", "set", inside, "netns", namespace)
            ip("-n", switch, "link", "set", port, "master", "br0")
            ip("-n", switch, "link", "set", port, "up")
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
            ip("-n", namespace, "link", "set", inside, "up")
            ip("-n", namespace, "link", "set", "lo", "up")
            namespaces[host] = namespace
        yield namespaces
    finally:
        for namespace in reversed(made):
            delete_namespace(namespace)


def in_namespace(namespace: str, argv: list[str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", namespace, *argv],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_healthy(url: str, process: subprocess.Popen[str], namespace: str | None = None) -> None:
    deadline = time.monotonic() + 30
    probe = ["ip", "netns", "exec", namespace] if namespace else []
    while True:
        check = subprocess.run(
            [*probe, sys.executable, "-c",
             f"import httpx; httpx.get({url!r} + '/healthz', timeout=1, trust_env=False)"
             ".raise_for_status()"],
            capture_output=True, check=False,
        )  # fmt: skip
        if check.returncode == 0:
            return
        if time.monotonic() > deadline or process.poll() is not None:
            pytest.fail(f"the target did not answer at {url}")
        time.sleep(0.3)


def finish(process: subprocess.Popen[str], log: Path, timeout: float = 120) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"still running after {timeout} s:\n{log.read_text()[-3000:]}")


def test_two_workers_on_other_hosts_send_the_schedule_and_their_records_come_back(
    tmp_path: Path, hosts: dict[str, str]
) -> None:
    target, master = ADDRESSES["target"], f"{ADDRESSES['master']}:{MASTER_PORT}"
    provider = f"{ADDRESSES['master']}:{PROVIDER_PORT}"
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "target.toml").write_text(manifest(target, PORT, provider))
    scenario = tmp_path / "multihost.yaml"
    scenario.write_text(SCENARIO)
    logs = {name: tmp_path / f"{name}.log" for name in ("server", "bench", "w0", "w1")}
    server = in_namespace(
        hosts["target"],
        [*PYTHON, "up", "--target", "sync", "--server-processes", "2", "--host", target,
         "--port", str(PORT), "--provider-url", f"http://{provider}", "--allow-remote",
         "--work-dir", str(tmp_path / "up"), "--for", "150"],
        logs["server"],
    )  # fmt: skip
    workers: list[subprocess.Popen[str]] = []
    bench = None
    try:
        wait_healthy(f"http://{target}:{PORT}", server, hosts["master"])
        reports = tmp_path / "reports"
        bench = in_namespace(
            hosts["master"],
            [*PYTHON, "bench", "--scenario", str(scenario), "--reports-dir", str(reports),
             "--no-report", "--no-floor", "--quiet", "--allow-remote", "--load-workers", "2",
             "--master-bind", master, "--join-timeout", "40"],
            logs["bench"],
        )  # fmt: skip
        for name in ("w0", "w1"):
            records = str(tmp_path / f"{name}-records")
            argv = [*PYTHON, "load-worker", "--master", master, "--allow-remote",
                    "--join-timeout", "40", "--records-dir", records]  # fmt: skip
            workers.append(in_namespace(hosts[name], argv, logs[name]))
        codes = [finish(w, logs[n]) for w, n in zip(workers, ("w0", "w1"), strict=True)]
        bench_code = finish(bench, logs["bench"])
    finally:
        for process in [*workers, *([bench] if bench else []), server]:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
    output = {name: path.read_text() for name, path in logs.items()}
    assert codes == [0, 0], output["w0"] + output["w1"]
    assert f"remote address: {master} (Locust master)" in output["w0"]
    assert bench_code == 0, output["bench"]
    assert f"remote address: {master} (Locust master)" in output["bench"]

    run_dir = (tmp_path / "reports" / "latest").resolve()
    design_dir = run_dir / "multihost" / "remote"
    distributed = json.loads((design_dir / "distributed.json").read_text())
    plan = LoadPlan.model_validate_json((design_dir / "plan.json").read_text())
    # the merged records are the scheduled arrivals: every one, once, from the worker whose
    # share it was (every 2nd arrival each), on the t=0 the master fixed
    expected = sorted((a.stream, round(a.offset, 6)) for a in merge_streams(plan))
    assert len(expected) == RATE * (DURATION + WARMUP)
    merged = []
    for index in (0, 1):
        with (design_dir / f"requests.w{index}.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        share = sorted((a.stream, round(a.offset, 6)) for a in merge_streams(plan)[index::2])
        assert sorted((r["stream"], round(float(r["offset"]), 6)) for r in rows) == share
        for row in rows:
            scheduled = distributed["t0_epoch"] + float(row["offset"])
            assert float(row["scheduled"]) == pytest.approx(scheduled, abs=0.01)
        merged += rows
        report = json.loads((design_dir / f"requests.w{index}.generator.json").read_text())
        assert report["worker_index"] == index and report["worker_count"] == 2
        # the worker keeps its own copy, byte for byte the one that came back
        copy = tmp_path / f"w{index}-records" / f"requests.w{index}.csv"
        if not copy.exists():
            copy = tmp_path / f"w{1 - index}-records" / f"requests.w{index}.csv"
        assert copy.read_bytes() == (design_dir / f"requests.w{index}.csv").read_bytes()
    assert sorted((r["stream"], round(float(r["offset"]), 6)) for r in merged) == expected
    assert all(r["status"] == "201" for r in merged)

    manifest_json = json.loads((run_dir / "multihost" / "manifest.json").read_text())
    clocks = manifest_json["designs"]["remote"]["remote_workers"]
    assert [c["index"] for c in clocks] == [0, 1]
    for clock in clocks:
        # one kernel clock behind every namespace: the measured offset is within its bound
        assert clock["samples"] == 5
        assert 0 < clock["round_trip_s"] < 0.05
        assert abs(clock["offset_s"]) <= clock["round_trip_s"] / 2 + 1e-4
        assert sorted(clock["records_received"]) == [
            f"requests.w{clock['index']}.csv",
            f"requests.w{clock['index']}.generator.json",
        ]
    summary = json.loads((run_dir / "multihost" / "summary.json").read_text())
    assert_measured(summary)
    overall = summary["designs"]["remote"]["signup"]["overall"]
    assert overall["count"] == RATE * DURATION and overall["ok"] == RATE * DURATION
    assert summary["designs"]["remote"]["generator"]["processes"] == 2
    # the ledger holds across the hosts: every user the design stored (warm-up included) got
    # its email from the provider on the master's host, once
    emails = summary["designs"]["remote"]["emails"]
    assert emails["owed"] == RATE * (DURATION + WARMUP), emails
    assert emails["delivered"] == emails["owed"], emails
    assert emails["lost"] == emails["duplicates"] == emails["pending"] == 0, emails


def _stall_server_on_loopback(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.stall_server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}", server)
    return server, port


def test_a_master_whose_workers_never_join_gives_up_after_its_timeout(tmp_path: Path) -> None:
    server, port = _stall_server_on_loopback(tmp_path)
    try:
        (tmp_path / "remote").mkdir()
        (tmp_path / "remote" / "target.toml").write_text(manifest("127.0.0.1", port))
        scenario = tmp_path / "multihost.yaml"
        scenario.write_text(SCENARIO)
        started = time.monotonic()
        result = subprocess.run(
            [*PYTHON, "bench", "--scenario", str(scenario), "--reports-dir",
             str(tmp_path / "reports"), "--no-report", "--no-floor", "--quiet",
             "--load-workers", "1", "--master-bind", f"127.0.0.1:{free_port()}",
             "--join-timeout", "3"],
            cwd=ROOT, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "did not all join the Locust master" in result.stdout
    assert "within 3 s (--join-timeout)" in result.stdout
    assert elapsed < 60


def test_a_worker_whose_master_never_answers_gives_up_after_its_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [*PYTHON, "load-worker", "--master", f"127.0.0.1:{free_port()}", "--join-timeout", "3",
         "--records-dir", str(tmp_path / "w")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no plan from the Locust master at 127.0.0.1:" in result.stderr
    assert "within 3 s (--join-timeout)" in result.stderr
    assert time.monotonic() - started < 30
