"""What a run-directory file holds after a writer changed it: nothing it changed is lost,
and nothing it never set appears."""

from __future__ import annotations

import json

from pydantic import Field

from offload.rundir.files import Figure, Record, RunFile
from offload.rundir.gate_run import GateRunRecord, JudgedPair
from tests.factories.rundirs import gate_run_record


class _Part(Record):
    counts: list[int] = Field(default_factory=list)
    p99_ms: Figure = None


class _File(RunFile):
    FILE_NAME = "part-file.json"
    WHAT = "a test file"

    name: str
    parts: dict[str, _Part] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


def test_a_judged_pair_appended_in_place_is_in_the_gate_run_file(tmp_path):
    record = gate_run_record(["AB", "BA"])
    record.judged.append(JudgedPair(number=1, order="AB", folder="pair-1"))
    path = record.dump(tmp_path / record.FILE_NAME)
    assert json.loads(path.read_text())["judged"] == [
        {"number": 1, "order": "AB", "folder": "pair-1"}
    ]
    assert GateRunRecord.load(path).judged == record.judged


def test_in_place_changes_are_written_at_every_depth(tmp_path):
    file = _File(name="x")
    file.notes.append("kept")
    file.parts["a"] = _Part()
    file.parts["a"].counts.append(3)
    written = json.loads(file.dump(tmp_path / "f.json").read_text())
    assert written["notes"] == ["kept"]
    assert written["parts"] == {"a": {"counts": [3]}}


def test_a_default_left_alone_stays_absent_and_a_round_trip_keeps_the_file(tmp_path):
    path = tmp_path / "f.json"
    _File(name="x", parts={"a": _Part()}).dump(path)
    first = path.read_text()
    assert json.loads(first) == {"schema_version": 1, "name": "x", "parts": {"a": {}}}
    _File.load(path).dump(path)
    assert path.read_text() == first
