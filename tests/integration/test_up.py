"""``offload up`` serves both designs, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import psutil


def test_up_serves_both_designs_and_ctrl_c_stops_every_process(tmp_path):
    work_dir = tmp_path / "up"
    process = subprocess.Popen(
        [sys.executable, "-m", "offload.cli", "up", "--work-dir", str(work_dir), "--for", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = ""
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops everything" not in output and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output += line
        urls = dict(re.findall(r"│ (sync|async) design \S+\s+│ (http://\S+)", output))
        assert set(urls) == {"sync", "async"}, output
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 4  # provider, gunicorn + workers, uvicorn + workers, worker(s)
        for url in urls.values():
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        signup = httpx.post(
            f"{urls['async']}/users",
            json={"email": "up@example.com", "display_name": "Up"},
            timeout=5,
        )
        assert signup.status_code == 202

        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output + rest
    assert "stopped every process" in rest
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"orphans: {alive}"
