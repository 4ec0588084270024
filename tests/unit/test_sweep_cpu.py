"""CPU per signup of a cell: the design's own CPU over the measured part (interpolated between
1 Hz samples, a restarted process counted from zero, the rig left out) per signup answered,
with a batch-means interval only when every block has enough answered signups."""

from __future__ import annotations

import pandas as pd
import pytest

from offload.sweep.cpu import BLOCKS, MIN_BLOCK_SIGNUPS, cpu_per_signup, own_cpu_between

T0 = 1_000.0


def _samples(rows):
    return pd.DataFrame(rows, columns=["t", "component", "role", "processes", "cpu_s", "rss_bytes"])


def test_own_cpu_is_interpolated_restarts_count_from_zero_and_the_rig_is_left_out():
    samples = _samples(
        [(T0 + t, "api", "server", 1, 0.5 * t, 1) for t in range(11)]
        + [(T0 + t, "generator", "generator", 1, 9.0 * t, 1) for t in range(11)]
        # a worker killed at 5 s and restarted: its counter drops to 0.1 and goes on
        + [
            (T0 + t, "worker", "worker", 1, c, 1)
            for t, c in [(0, 0), (2, 0.2), (4, 0.4), (6, 0.1), (8, 0.3), (10, 0.5)]
        ]
    )
    used = own_cpu_between(samples, T0 + 1.5, T0 + 9.0)
    api = 0.5 * 7.5
    worker = (0.4 - 0.15) + 0.1 + (0.4 - 0.1)  # 1.5→4, the restart's 0.1, 6→9
    assert used == pytest.approx(api + worker, abs=1e-9)


def _cell(tmp_path, per_block_ok):
    duration = 10.0
    rows = []
    width = duration / BLOCKS
    for block, ok in enumerate(per_block_ok):
        for i in range(ok):
            offset = block * width + (i + 0.5) * width / ok
            rows.append(
                {
                    "stream": "signup",
                    "name": "POST /users",
                    "phase": "measured",
                    "offset": offset,
                    "scheduled": T0 + offset,
                    "sent": T0 + offset,
                    "ended": T0 + offset + 0.01,
                    "status": 201,
                    "error_class": "",
                }
            )
    pd.DataFrame(rows).to_csv(tmp_path / "requests.csv", index=False)
    _samples([(T0 + t, "api", "server", 1, 0.1 * t, 1) for t in range(-2, 13)]).to_csv(
        tmp_path / "samples.csv", index=False
    )
    return cpu_per_signup(tmp_path, T0, duration)


def test_cpu_per_signup_and_its_interval(tmp_path):
    result = _cell(tmp_path, [40, 60, 50, 50, 50])  # 250 signups, 1.0 CPU s in 10 s
    assert result.per_1000 == pytest.approx(1.0 / 250 * 1000, rel=1e-3)
    assert result.interval is not None
    low, high = result.interval
    assert 0 <= low < result.per_1000 < high


def test_no_interval_when_a_block_has_too_few_answered_signups(tmp_path):
    result = _cell(tmp_path, [50, 50, MIN_BLOCK_SIGNUPS - 1, 50, 50])
    assert result.per_1000 is not None and result.interval is None
