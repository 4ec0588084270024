"""``offload up --metrics``: every component serves metrics, and Prometheus is told where.

A person who wants to watch the designs in Grafana runs ``offload up --metrics`` and points
Prometheus at the ``prometheus.yml`` it writes: every target listed there must answer
``/metrics`` with the designs' metrics, and every process that serves them must be listed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import yaml


def test_up_with_metrics_writes_a_scrape_config_every_component_answers(tmp_path):
    work_dir = tmp_path / "up"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "offload.cli", "up", "--target", "async", "--target",
            "outbox", "--metrics", "--workers", "2", "--work-dir", str(work_dir), "--for", "120",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    output = ""
    try:
        deadline = time.monotonic() + 90
        while "into Grafana" not in output and time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            if not line:
                break
            output += line
        assert "into Grafana" in output, output
        config = yaml.safe_load((work_dir / "prometheus.yml").read_text())
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        assert set(jobs) == {
            "offload-async-api",
            "offload-async-worker",
            "offload-outbox-api",
            "offload-outbox-relay",
            "offload-outbox-worker",
            "offload-provider",
        }, output
        assert len(jobs["offload-async-worker"]["static_configs"][0]["targets"]) == 2
        for job in jobs.values():
            for target in job["static_configs"][0]["targets"]:
                answer = httpx.get(f"http://{target}{job['metrics_path']}", timeout=10)
                assert answer.status_code == 200, (job["job_name"], target)
                assert "offload_" in answer.text, (job["job_name"], target)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output + rest
