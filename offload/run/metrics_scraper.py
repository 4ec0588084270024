"""Once a second, scrape every component's Prometheus endpoint into ``metrics.csv``.

Runs in a thread beside the load, like :mod:`offload.run.sampler`. The endpoints are the ones
the target's manifest declares (``metrics_path`` on the API, ``metrics = true`` processes)
and the provider's. Each scrape is parsed with prometheus_client's own parser and written as
it comes (:mod:`offload.rundir.metrics_csv`); a component that does not answer (killed by a
fault, still starting) gets an ``up`` 0 row for that second, not an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from offload.rundir.metrics_csv import UP, MetricSample, writer

log = logging.getLogger("offload.run.metrics_scraper")


def parse_exposition(text: str, *, t: float, component: str) -> list[MetricSample]:
    """The samples of one scrape (``_created`` timestamps left out: they are not values)."""
    return [
        MetricSample(
            t=t, component=component, name=s.name, labels=dict(s.labels), value=float(s.value)
        )
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    ]


class MetricsScraper:
    def __init__(
        self,
        *,
        path: Path,
        endpoints: Mapping[str, str],
        interval_s: float = 1.0,
        timeout_s: float = 0.8,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.interval_s = interval_s
        self._client = httpx.Client(timeout=timeout_s)
        self._file = path.open("w", newline="")
        self._rows = writer(self._file)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="offload-metrics", daemon=True)

    def start(self) -> MetricsScraper:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after one last scrape (the counters' final values), then close the file."""
        if self._file.closed:
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()
        self._file.close()

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self.scrape_once()
            next_tick += self.interval_s
            self._stop.wait(max(0.0, next_tick - time.monotonic()))
        self.scrape_once()

    def scrape_once(self) -> None:
        for component, url in self.endpoints.items():
            t = round(time.time(), 3)
            try:
                response = self._client.get(url)
                response.raise_for_status()
                samples = parse_exposition(response.text, t=t, component=component)
            except (httpx.HTTPError, ValueError) as exc:
                log.debug("scraping %s (%s) failed: %s", component, url, exc)
                samples = [MetricSample(t=t, component=component, name=UP, labels={}, value=0)]
            else:
                samples.append(MetricSample(t=t, component=component, name=UP, labels={}, value=1))
            for sample in samples:
                self._rows.writerow(sample.row())
        self._file.flush()
