"""Workers on other hosts: the clock-skew estimate, the chunked records transfer, the skew
bound's verdict and the refusals of ``--master-bind`` / ``load-worker`` before anything starts."""

from __future__ import annotations

import argparse
import hashlib
import json
import random

import pytest

from loadtests.multihost import (
    RecordsAssembler,
    TransferError,
    WorkerClock,
    best_clock,
    chunks,
    clock_sample,
)
from offload.analysis.clock_skew import MAX_CLOCK_SKEW_S, invalid_reasons
from offload.cli import main
from offload.run.remote import RemoteRefused
from offload.run.remote_workers import (
    MasterAddress,
    check_master_address,
    parse_master_address,
)

pytestmark = pytest.mark.unit


# -- the skew estimate ------------------------------------------------------------------


def test_the_offset_is_the_worker_clock_minus_the_midpoint_of_the_exchange() -> None:
    # the worker's clock is 40 ms ahead; 2 ms out, 6 ms back (an asymmetric path)
    true_offset = 0.040
    t1 = 1000.0
    t2 = t1 + 0.002 + true_offset
    t3 = t1 + 0.008
    sample = clock_sample(t1, t2, t3)
    assert sample.round_trip_s == pytest.approx(0.008)
    # NTP's estimate is off by half the asymmetry, and within half the round trip
    assert sample.offset_s == pytest.approx(0.038)
    assert abs(sample.offset_s - true_offset) <= sample.round_trip_s / 2


def test_the_sample_with_the_smallest_round_trip_is_kept() -> None:
    true_offset = -0.0123
    rng = random.Random(7)
    samples = []
    for i in range(5):
        out, back = rng.uniform(0.0001, 0.02), rng.uniform(0.0001, 0.02)
        t1 = 50.0 + i
        samples.append(clock_sample(t1, t1 + out + true_offset, t1 + out + back))
    best = best_clock(samples)
    assert best.round_trip_s == min(s.round_trip_s for s in samples)
    assert abs(best.offset_s - true_offset) <= best.round_trip_s / 2


def test_a_reply_received_before_it_was_sent_is_refused() -> None:
    with pytest.raises(ValueError, match="before it was sent"):
        clock_sample(10.0, 10.0, 9.0)
    with pytest.raises(ValueError, match="no clock samples"):
        best_clock([])


# -- the skew bound ---------------------------------------------------------------------


def _worker(offset_s: float | None, round_trip_s: float | None) -> WorkerClock:
    return WorkerClock(index=0, client_id="host-b_1", offset_s=offset_s, round_trip_s=round_trip_s)


def test_a_worker_within_the_bound_keeps_the_run_valid() -> None:
    assert invalid_reasons("remote", [_worker(0.001, 0.0004)]) == []


def test_a_skew_beyond_the_bound_makes_the_run_invalid_and_says_by_how_much() -> None:
    [reason] = invalid_reasons("remote", [_worker(-0.012, 0.0004)])
    assert reason.startswith("remote: load worker 0 (host-b_1): clock skew -12.00 ms")
    assert f"{MAX_CLOCK_SKEW_S * 1e3:g} ms bound" in reason


def test_an_offset_the_round_trip_cannot_rule_out_counts_against_the_run() -> None:
    # 4 ms measured, but the true offset may be up to 4 + 3 = 7 ms: not shown within 5 ms
    assert invalid_reasons("remote", [_worker(0.004, 0.006)])
    assert invalid_reasons("remote", [_worker(None, None)]) == [
        "remote: load worker 0 (host-b_1): its clock offset was never measured"
    ]


# -- the records transfer ---------------------------------------------------------------


def _reassemble(assembler: RecordsAssembler, messages: list[dict]) -> tuple[str, bytes] | None:
    done = None
    for message in messages:
        result = assembler.add("worker-1", message)
        if result is not None:
            assert done is None, "a file completed twice"
            done = result
    return done


def test_a_large_file_goes_in_chunks_and_comes_back_byte_for_byte() -> None:
    data = random.Random(1).randbytes(2_500_000)
    messages = list(chunks("requests.w1.csv", data, size=1 << 20))
    assert [m["part"] for m in messages] == [0, 1, 2]
    assert all(len(m["data"]) <= 1 << 20 for m in messages)
    assert _reassemble(RecordsAssembler(), messages) == ("requests.w1.csv", data)


def test_chunks_arriving_out_of_order_still_reassemble_and_two_workers_do_not_mix() -> None:
    a, b = b"a" * 1000, b"b" * 1000
    assembler = RecordsAssembler()
    from_a = list(chunks("requests.csv", a, size=300))
    from_b = list(chunks("requests.csv", b, size=300))
    results = []
    for msg_a, msg_b in zip(reversed(from_a), from_b, strict=True):
        results.append(assembler.add("worker-a", msg_a))
        results.append(assembler.add("worker-b", msg_b))
    assert ("requests.csv", a) in results and ("requests.csv", b) in results
    assert assembler.incomplete() == []


def test_an_empty_file_is_one_chunk() -> None:
    messages = list(chunks("requests.generator.json", b""))
    assert len(messages) == 1
    assert _reassemble(RecordsAssembler(), messages) == ("requests.generator.json", b"")


def test_a_missing_chunk_leaves_the_file_incomplete_and_unwritten() -> None:
    assembler = RecordsAssembler()
    messages = list(chunks("requests.csv", b"x" * 1000, size=100))
    del messages[4]
    assert _reassemble(assembler, messages) is None
    assert assembler.incomplete() == [("worker-1", "requests.csv")]


def test_a_corrupted_chunk_fails_the_digest() -> None:
    messages = list(chunks("requests.csv", b"0123456789" * 50, size=100))
    messages[2] = {**messages[2], "data": b"X" * 100}
    with pytest.raises(TransferError, match="SHA-256 does not match"):
        _reassemble(RecordsAssembler(), messages)


def test_only_record_files_may_come_back() -> None:
    for name in ("../manifest.json", "summary.json", "requests.csv/../../x", ".requests.csv"):
        with pytest.raises(TransferError, match="only requests"):
            RecordsAssembler().add("worker-1", next(chunks(name, b"data")))


def test_a_chunk_from_another_transfer_of_the_same_name_is_refused() -> None:
    assembler = RecordsAssembler()
    first = list(chunks("requests.csv", b"a" * 300, size=100))
    other = list(chunks("requests.csv", b"b" * 500, size=100))
    assert assembler.add("worker-1", first[0]) is None
    with pytest.raises(TransferError, match="does not fit"):
        assembler.add("worker-1", other[1])
    digest = hashlib.sha256(b"").hexdigest()
    with pytest.raises(TransferError, match="malformed"):
        assembler.add("worker-1", {"name": "requests.csv", "sha256": digest})


# -- addresses and refusals -------------------------------------------------------------


def test_master_addresses_parse_with_their_port() -> None:
    assert parse_master_address("198.18.0.1:5557") == MasterAddress("198.18.0.1", 5557)
    assert parse_master_address("[::1]:6000") == MasterAddress("::1", 6000)
    assert str(MasterAddress("::1", 6000)) == "[::1]:6000"
    for bad in ("198.18.0.1", ":5557", "host:http", "host:70000"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_master_address(bad)


def test_a_non_loopback_master_needs_allow_remote_and_is_named() -> None:
    assert (
        check_master_address(MasterAddress("127.0.0.1", 5557), allowed=False, command="x") is None
    )
    remote = MasterAddress("198.18.0.1", 5557)
    with pytest.raises(RemoteRefused, match=r"198\.18\.0\.1:5557.*--allow-remote"):
        check_master_address(remote, allowed=False, command="bench")
    line = check_master_address(remote, allowed=True, command="bench")
    assert line == "remote address: 198.18.0.1:5557 (Locust master)"


def test_load_worker_refuses_a_remote_master_before_starting_anything(tmp_path, capsys) -> None:
    code = main(["load-worker", "--master", "198.18.0.9:5557", "--records-dir", str(tmp_path)])
    assert code == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bench_refuses_a_remote_master_before_anything_starts(tmp_path, capsys) -> None:
    reports = tmp_path / "reports"
    code = main(
        ["bench", "--scenario", "baseline", "--load-workers", "1", "--master-bind",
         "198.18.0.9:5557", "--reports-dir", str(reports), "--no-floor", "--no-report"]
    )  # fmt: skip
    assert code == 2
    assert "198.18.0.9:5557" in capsys.readouterr().err
    assert not reports.exists()


def test_bench_refuses_a_loopback_target_behind_a_remote_master(tmp_path, capsys) -> None:
    reports = tmp_path / "reports"
    code = main(
        ["bench", "--scenario", "baseline", "--load-workers", "1", "--master-bind",
         "198.18.0.9:5557", "--allow-remote", "--reports-dir", str(reports), "--no-floor",
         "--no-report"]
    )  # fmt: skip
    assert code == 2
    assert "cannot reach" in capsys.readouterr().err
    assert not reports.exists()


def test_a_skewed_worker_in_the_manifest_makes_the_summary_invalid(tmp_path) -> None:
    from offload.analysis.summary import summarise_scenario
    from tests.factories.records import build_run

    folder = build_run(tmp_path) / "synthetic"
    assert summarise_scenario(folder).valid
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["designs"]["async"]["remote_workers"] = [
        {"index": 0, "client_id": "host-a_1", "offset_s": 0.0004, "round_trip_s": 0.0003},
        {"index": 1, "client_id": "host-b_2", "offset_s": 0.0210, "round_trip_s": 0.0006},
    ]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    summary = summarise_scenario(folder)
    assert not summary.valid
    [reason] = summary.invalid_reasons
    assert reason.startswith("async: load worker 1 (host-b_2): clock skew +21.00 ms ± 0.30 ms")
