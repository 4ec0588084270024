"""``metrics.csv``: what the components' Prometheus endpoints said, once a second.

One row per sample of one scrape: the time of the scrape, the component (``api``,
``worker-1``, ``relay``, ``provider``), the sample's name as exposed (``…_total``,
``…_bucket``), its labels as a JSON object, its value. A scrape that failed is one row named
``up`` with value 0 (a successful one writes ``up`` 1), so a gap is visible, never a zero.
The scraper (:mod:`offload.run.metrics_scraper`) writes it, the analysis reads it, both
through :class:`MetricSample`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from offload.errors import RunInvalid

FILE_NAME = "metrics.csv"
COLUMNS = ["t", "component", "name", "labels", "value"]
#: the sample written for every scrape: 1 answered, 0 failed
UP = "up"


class MetricSample(BaseModel):
    model_config = ConfigDict(frozen=True)

    t: float
    component: str
    name: str
    labels: dict[str, str]
    value: float

    def row(self) -> list[object]:
        labels = json.dumps(self.labels, sort_keys=True, separators=(",", ":"))
        return [self.t, self.component, self.name, labels, repr(self.value)]


def writer(file: IO[str]) -> Any:
    """A CSV writer on ``file`` with the header written."""
    out = csv.writer(file)
    out.writerow(COLUMNS)
    return out


def read_samples(path: Path) -> Iterator[MetricSample]:
    """Every row of a ``metrics.csv``; a malformed row is an error naming file and line."""
    with path.open(newline="") as file:
        rows = csv.DictReader(file)
        if rows.fieldnames != COLUMNS:
            raise RunInvalid(f"{path}: expected the columns {COLUMNS}, got {rows.fieldnames}")
        for line, row in enumerate(rows, start=2):
            try:
                yield MetricSample.model_validate({**row, "labels": json.loads(row["labels"])})
            except (ValidationError, json.JSONDecodeError) as exc:
                raise RunInvalid(f"{path}, line {line}: not a metrics sample: {exc}") from exc
