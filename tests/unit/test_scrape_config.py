"""The Prometheus configuration ``offload up --metrics`` writes: one job per component kind."""

from __future__ import annotations

import pytest
import yaml

from offload.run.scrape_config import scrape_config, write_scrape_config

pytestmark = pytest.mark.unit


def test_worker_copies_share_a_job_and_every_endpoint_is_a_target(tmp_path):
    endpoints = {
        "async/api": "http://127.0.0.1:8002/metrics",
        "async/worker-1": "http://127.0.0.1:9102/metrics",
        "async/worker-2": "http://127.0.0.1:9103/metrics",
        "provider": "http://127.0.0.1:9104/metrics",
    }
    path = write_scrape_config(tmp_path / "up" / "prometheus.yml", endpoints)
    config = yaml.safe_load(path.read_text())
    assert config == scrape_config(endpoints)
    assert config["global"]["scrape_interval"] == "5s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"offload-async-api", "offload-async-worker", "offload-provider"}
    assert jobs["offload-async-worker"]["static_configs"] == [
        {"targets": ["127.0.0.1:9102", "127.0.0.1:9103"]}
    ]
    assert all(job["metrics_path"] == "/metrics" for job in jobs.values())


def test_copies_of_one_job_on_different_paths_are_refused():
    with pytest.raises(ValueError, match="differs"):
        scrape_config({"a/worker-1": "http://h:1/metrics", "a/worker-2": "http://h:2/other"})
