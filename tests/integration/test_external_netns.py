"""A bench across a network boundary without leaving the machine: a server in a network
namespace of its own, reached over a veth pair with addresses from the benchmarking range
198.18.0.0/15 (RFC 2544) only, benchmarked as an external target with ``--allow-remote``.

Skipped, with the reason, where namespaces cannot be created (not root, no ``ip``). The
namespace (and the veth pair with it) is removed in a ``finally``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories.netns import add_namespace_or_skip, delete_namespace, ip
from tests.factories.processes import run_bench
from tests.factories.validity import assert_measured

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: this machine's end and the namespace's end of the veth pair (a /30 of 198.18.0.0/15)
HOST_ADDRESS, TARGET_ADDRESS = "198.18.0.1", "198.18.0.2"
PORT = 8000

SCENARIO = """
name: netns
load: {rate: 10/s, arrivals: constant, duration: 4s, warmup: 1s}
client: {timeout: 5s}
targets: [remote]
"""

MANIFEST = f"""
name = "remote"
kind = "external"

[external]
design = "sync"
url = "http://{TARGET_ADDRESS}:{PORT}"
provider = "none"
ledger = "none"
"""


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace joined to this one by a veth pair; skipped where it cannot be made."""
    name = f"offload-{uuid.uuid4().hex[:6]}"
    host_end, target_end = f"vo{name[-6:]}h", f"vo{name[-6:]}t"
    add_namespace_or_skip(name)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", target_end)
        ip("link", "set", target_end, "netns", name)
        ip("addr", "add", f"{HOST_ADDRESS}/30", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", name, "addr", "add", f"{TARGET_ADDRESS}/30", "dev", target_end)
        ip("-n", name, "link", "set", target_end, "up")
        ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, check=False)
        delete_namespace(name)


@pytest.fixture
def remote_server(namespace: str) -> Iterator[str]:
    """The stall server (answers at once) listening inside the namespace only."""
    process = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "tests.stall_server",
         "--host", TARGET_ADDRESS, "--port", str(PORT)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://{TARGET_ADDRESS}:{PORT}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"the server in {namespace} did not answer at {url}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bench_against_a_remote_address_needs_allow_remote_and_names_it(tmp_path, remote_server):
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "target.toml").write_text(MANIFEST)
    scenario = tmp_path / "netns.yaml"
    scenario.write_text(SCENARIO)

    refused = run_bench(scenario, tmp_path / "refused")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert TARGET_ADDRESS in refused.stderr and "--allow-remote" in refused.stderr
    assert not (tmp_path / "refused").exists()

    reports = tmp_path / "reports"
    result = run_bench(scenario, reports, "--allow-remote")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"remote address: {TARGET_ADDRESS} (remote's API)" in result.stdout
    run_dir = (reports / "latest").resolve()
    plan = json.loads((run_dir / "netns/remote/plan.json").read_text())
    assert plan["allowed_remote_hosts"] == [TARGET_ADDRESS]
    summary = json.loads((run_dir / "netns/summary.json").read_text())
    assert_measured(summary)
    signup = summary["designs"]["remote"]["signup"]["overall"]
    # constant arrivals at 10/s for 4 s: 40 scheduled, every one answered 201 across the veth
    assert signup["count"] == 40 and signup["ok"] == 40
    assert summary["designs"]["remote"]["emails"] is None
