"""What the gate leaves behind: junit.xml CI systems accept, gate.md, the table, exit codes."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from offload.commands import baseline as baseline_command
from offload.commands import gate as gate_command
from offload.errors import GateFailed, RunInvalid
from tests.factories.rundirs import (
    get_figure,
    make_manifest,
    set_figure,
    write_run,
)

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "junit.xsd"
ASYNC_P95 = "designs.async.signup.overall.latency_ms.p95"


def parse(module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(autouse=True)
def captured(monkeypatch) -> io.StringIO:
    """The commands' console output, wide enough that table cells are not folded."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=250, highlight=False, soft_wrap=True)
    monkeypatch.setattr(gate_command, "console", console)
    monkeypatch.setattr(baseline_command, "console", console)
    return buffer


def save(run_dir: Path, to: Path, *extra: str) -> int:
    return baseline_command.run(
        parse(baseline_command, ["save", str(run_dir), "--to", str(to), *extra])
    )


def gate(*argv: str) -> int:
    return gate_command.run(parse(gate_command, list(argv)))


def slower_async(summary, k):
    set_figure(summary, ASYNC_P95, get_figure(summary, ASYNC_P95) * 2)


@pytest.fixture
def regressed(tmp_path: Path) -> Path:
    """A run gated against a baseline: async p95 doubled (so is its ratio to sync's), one
    expectation broken, the rest fine."""
    baseline = tmp_path / "baselines" / "ci.json"
    assert save(write_run(tmp_path, name="base"), baseline) == 0
    expect = ["async.emails.lost == 0", "async.signup.p95 < 30", "async.e2e.p95 < 20000"]
    run_dir = write_run(
        tmp_path, name="cur", variant=slower_async, manifest=make_manifest(expect=expect)
    )
    assert gate(str(run_dir), "--baseline", str(baseline)) == 1
    return run_dir


# -- junit.xml -----------------------------------------------------------------------------


def test_junit_xml_validates_against_the_schema_ci_systems_read(regressed: Path):
    import xmlschema

    schema = xmlschema.XMLSchema(str(SCHEMA))
    schema.validate(str(regressed / "gate" / "junit.xml"))


def test_junit_has_one_testcase_per_check_and_failures_carry_the_message(regressed: Path):
    root = ET.parse(regressed / "gate" / "junit.xml").getroot()
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    baseline = json.loads((regressed.parent / "baselines" / "ci.json").read_text())
    gated = len(baseline["scenarios"]["slow-downstream"]["policy"])
    assert len(cases) == 3 + gated
    assert suite.get("tests") == str(len(cases))
    assert {case.get("classname") for case in cases} == {"offload.slow-downstream"}
    by_name = {case.get("name"): case for case in cases}
    assert len(by_name) == len(cases)

    expectation = by_name["async.signup.p95 < 30"].find("failure")
    assert expectation is not None
    assert expectation.get("type") == "expectation"
    assert expectation.get("message") == "expectation does not hold: 42 < 30"

    regression = by_name[ASYNC_P95].find("failure")
    assert regression is not None
    assert regression.get("type") == "regression"
    assert regression.get("message").startswith("regression: median rose from 21 to 42")
    assert "current:  42" in regression.text

    assert by_name["async.emails.lost == 0"].find("failure") is None
    assert int(suite.get("failures")) == sum(case.find("failure") is not None for case in cases)
    assert suite.get("errors") == "0"
    for case in cases:
        float(case.get("time"))


def test_a_schema_violation_would_be_caught(tmp_path: Path):
    """The schema is not a rubber stamp: a testcase without a name is refused."""
    import xmlschema

    bad = tmp_path / "bad.xml"
    bad.write_text(
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0">'
        '<testcase classname="c"/></testsuite></testsuites>'
    )
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(str(SCHEMA)).validate(str(bad))


def test_error_checks_are_junit_errors(tmp_path: Path):
    import xmlschema

    run_dir = write_run(tmp_path, manifest=make_manifest(expect=["async.signup.p96 < 1"]))
    assert gate(str(run_dir)) == 2
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(run_dir / "gate" / "junit.xml"))
    case = ET.parse(run_dir / "gate" / "junit.xml").getroot().find("testsuite/testcase")
    error = case.find("error")
    assert error is not None and "nearest valid paths" in error.get("message")


# -- gate.md -------------------------------------------------------------------------------


def test_gate_md_has_a_fail_headline_and_failures_first(regressed: Path):
    text = (regressed / "gate" / "gate.md").read_text()
    lines = text.splitlines()
    assert (
        lines[0] == "## ❌ offload gate: FAIL: 3 of 25 checks failed (2 regressions, 1 expectation)"
    )
    failures = text.index("### Failures")
    table = text.index("### Checks")
    assert failures < table
    section = text[failures:table]
    assert f"`{ASYNC_P95}`: regression: median rose from 21 to 42" in section
    assert "`async.signup.p95 < 30`: expectation does not hold: 42 < 30" in section
    assert "`async.signup.p95 / sync.signup.p95`" in text  # the ratio moved too
    rows = [line for line in text[table:].splitlines() if line.startswith("| ")][1:]
    assert all(row.startswith("| ❌ fail") for row in rows[:3])
    assert all(row.startswith("| ✅ pass") for row in rows[3:])


def test_gate_md_has_a_pass_headline_when_everything_passes(tmp_path: Path):
    run_dir = write_run(tmp_path)
    baseline = tmp_path / "b.json"
    assert save(run_dir, baseline) == 0
    assert gate(str(run_dir), "--baseline", str(baseline), "--out", str(tmp_path / "out")) == 0
    first = (tmp_path / "out" / "gate.md").read_text().splitlines()[0]
    assert first == "## ✅ offload gate: PASS: all 25 checks passed"
    assert not (run_dir / "gate").exists()


def test_a_refused_gate_still_explains_itself_in_gate_md_and_junit(tmp_path: Path):
    import xmlschema

    run_dir = write_run(tmp_path, valid=False)
    with pytest.raises(GateFailed):
        gate(str(run_dir))
    text = (run_dir / "gate" / "gate.md").read_text()
    assert text.startswith("## ⚠️ offload gate: ERROR")
    assert "load generator saturated" in text
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(run_dir / "gate" / "junit.xml"))


# -- the commands end to end ---------------------------------------------------------------


def test_the_terminal_table_shows_every_check_and_why_failures_failed(
    regressed: Path, captured: io.StringIO
):
    output = captured.getvalue()
    assert "async.signup.p95" in output and "+100.0%" in output
    assert f"FAIL slow-downstream · {ASYNC_P95}" in output
    assert "FAIL: 3 of 25 checks failed (2 regressions, 1 expectation)" in output
    assert "reports: " in output


def test_exit_codes_pass_fail_unusable(tmp_path: Path):
    run_dir = write_run(tmp_path, name="ok")
    assert gate(str(run_dir)) == 0
    broken = write_run(
        tmp_path, name="broken", manifest=make_manifest(expect=["async.signup.p95 > 1e6"])
    )
    assert gate(str(broken)) == 1
    with pytest.raises(RunInvalid) as caught:
        gate(str(tmp_path / "no-such-run"))
    assert caught.value.exit_code == 2
    with pytest.raises(GateFailed, match="no baseline file here"):
        gate(str(run_dir), "--baseline", str(tmp_path / "missing.json"))


def test_no_expectations_skips_the_expect_checks(tmp_path: Path):
    run_dir = write_run(tmp_path, manifest=make_manifest(expect=["async.signup.p95 > 1e6"]))
    baseline = tmp_path / "b.json"
    assert save(run_dir, baseline) == 0
    assert gate(str(run_dir), "--baseline", str(baseline), "--no-expectations") == 0


def test_baseline_save_refuses_to_overwrite_without_force(tmp_path: Path, captured: io.StringIO):
    run_dir = write_run(tmp_path)
    target = tmp_path / "b.json"
    assert save(run_dir, target) == 0
    assert "saved" in captured.getvalue() and "22 gated metric(s)" in captured.getvalue()
    with pytest.raises(GateFailed, match="exists; pass --force"):
        save(run_dir, target)
    assert save(run_dir, target, "--force") == 0
    assert "policy kept from the previous file" in captured.getvalue()
    assert save(run_dir, target, "--force", "--reset-policy") == 0


def test_baseline_save_refuses_an_invalid_run(tmp_path: Path):
    run_dir = write_run(tmp_path, valid=False)
    with pytest.raises(GateFailed, match="the run is invalid"):
        save(run_dir, tmp_path / "b.json")
    assert not (tmp_path / "b.json").exists()
    assert save(run_dir, tmp_path / "b.json", "--allow-invalid") == 0


def test_baseline_show_prints_the_policy_and_the_baselines_figures(
    tmp_path: Path, captured: io.StringIO
):
    target = tmp_path / "b.json"
    assert save(write_run(tmp_path, repeats=3), target) == 0
    assert baseline_command.run(parse(baseline_command, ["show", str(target)])) == 0
    output = captured.getvalue()
    assert "slow-downstream — 3 run(s)" in output
    assert "async.signup.p95 " in output and "relative +30%" in output


def test_the_flags_are_checked_by_the_parser():
    with pytest.raises(SystemExit):
        parse(gate_command, ["run", "--tolerance-scale", "0"])
    with pytest.raises(SystemExit):
        parse(gate_command, ["run", "--alpha", "1.5"])
    args = parse(
        gate_command, ["run", "--ignore-identity", "versions", "--ignore-identity", "quick"]
    )
    assert args.ignore_identity == ["versions", "quick"]


def test_the_command_modules_follow_the_cli_pattern():
    code = (
        "from offload.commands import gate, baseline\n"
        "for m in (gate, baseline):\n"
        "    assert m.__doc__ and callable(m.add_arguments) and callable(m.run)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
