"""The bench starts its load as soon as the generator is ready: the generator fixes t=0 and
announces it (``requests.start.json``), and the bench waits for that announcement — but never
for a generator that died or hangs before it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from loadtests.selfmeasure import GeneratorStart, generator_start_path
from offload.run.design import GeneratorDidNotStart, wait_for_generator_start
from offload.run.supervisor import ProcessSpec, Supervised


def _generator(tmp_path: Path, code: str) -> Supervised:
    spec = ProcessSpec(
        name="locust", argv=[sys.executable, "-c", code], log_path=tmp_path / "locust.log"
    )
    return Supervised(spec).start()


def test_the_bench_gets_the_t0_the_generator_announced(tmp_path: Path):
    records = tmp_path / "requests.csv"
    t0 = time.time() + 1.5
    start_file = str(records.with_suffix(".start.json"))
    announce = (
        "import time; from pathlib import Path; "
        "from loadtests.selfmeasure import GeneratorStart; time.sleep(0.3); "
        f"GeneratorStart(t0_epoch={t0!r}, warmup_s=1.0).write(Path({start_file!r})); "
        "time.sleep(5)"
    )
    generator = _generator(tmp_path, announce)
    try:
        assert wait_for_generator_start(records, generator, timeout_s=30) == t0
        assert generator.alive  # the load runs on: the bench only learned its t=0
    finally:
        generator.stop()


def test_a_generator_that_dies_before_t0_fails_the_run_with_its_log(tmp_path: Path):
    generator = _generator(tmp_path, "import sys; print('no plan here'); sys.exit(3)")
    started = time.monotonic()
    with pytest.raises(GeneratorDidNotStart, match="exited with code 3") as error:
        wait_for_generator_start(tmp_path / "requests.csv", generator, timeout_s=30)
    assert time.monotonic() - started < 10  # noticed at the exit, not at the timeout
    assert "locust.log" in str(error.value)


def test_a_silent_generator_is_stopped_at_the_timeout(tmp_path: Path):
    generator = _generator(tmp_path, "import time; time.sleep(60)")
    with pytest.raises(GeneratorDidNotStart, match="is silent"):
        wait_for_generator_start(tmp_path / "requests.csv", generator, timeout_s=0.5)
    assert not generator.alive


def test_the_announcement_is_a_typed_file_beside_the_records(tmp_path: Path):
    records = tmp_path / "requests.csv"
    GeneratorStart(t0_epoch=12.5, warmup_s=2.0).write(generator_start_path(records))
    assert generator_start_path(records) == tmp_path / "requests.start.json"
    assert GeneratorStart.read(generator_start_path(records)).t0_epoch == 12.5
