"""A Prometheus scrape configuration for the components ``offload up --metrics`` started.

The ports are free ones the harness picked, so the configuration is written for them: one job
per design and component kind (``offload-async-api``, ``offload-async-worker`` with one target
per worker copy, ``offload-provider``), which is the ``job`` label the Grafana dashboard
(docs/grafana/offload-reference-designs.json) tells the APIs apart by. Pointing Prometheus at
the file is all a person has to do; docs/observability.md shows the rest.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

#: the copy number the harness appends to a worker's name (``worker-2``)
_COPY = re.compile(r"-\d+$")
#: seconds between scrapes: the dashboard's rates need a few samples per minute
SCRAPE_INTERVAL = "5s"


def scrape_config(endpoints: dict[str, str]) -> dict[str, Any]:
    """``{"global": ..., "scrape_configs": [...]}`` for ``job name -> metrics URL`` pairs,
    where a job name is the design and component (``async/worker-1``) or ``provider``."""
    jobs: dict[str, dict[str, Any]] = {}
    for name, url in sorted(endpoints.items()):
        parts = urlsplit(url)
        job = "offload-" + _COPY.sub("", name).replace("/", "-")
        entry = jobs.setdefault(
            job, {"job_name": job, "metrics_path": parts.path, "static_configs": [{"targets": []}]}
        )
        if entry["metrics_path"] != parts.path:
            raise ValueError(f"{name}: {parts.path} differs from its job's {entry['metrics_path']}")
        entry["static_configs"][0]["targets"].append(parts.netloc)
    return {"global": {"scrape_interval": SCRAPE_INTERVAL}, "scrape_configs": list(jobs.values())}


def write_scrape_config(path: Path, endpoints: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(scrape_config(endpoints), sort_keys=False))
    return path
