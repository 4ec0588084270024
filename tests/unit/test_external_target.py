"""External targets (``kind = "external"``) and remote addresses: what a manifest may say,
and what is refused before anything starts (the file and field, or the address and the flag)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.plan import LoadPlan
from offload.cli import main
from offload.errors import ManifestError, ScenarioError
from offload.run.external import check_external_faults, remote_hosts_for_generator
from offload.run.orchestrator import BenchPlan, prepare
from offload.run.remote import RemoteRefused, check_remote, remote_addresses
from offload.target.manifest import load_manifest

EXTERNAL = """
name = "{name}"
kind = "external"

[external]
design = "async"
url = "{url}"
provider = "{provider}"
{listen}
ledger = "{ledger}"
"""


def _manifest(
    tmp_path: Path,
    *,
    name: str = "ext",
    url: str = "http://127.0.0.1:18000",
    provider: str = "offload",
    listen: str | None = "127.0.0.1:18025",
    ledger: str = "none",
) -> Path:
    directory = tmp_path / name
    directory.mkdir(exist_ok=True)
    text = EXTERNAL.format(
        name=name,
        url=url,
        provider=provider,
        listen=f'provider_listen = "{listen}"' if listen else "",
        ledger=ledger,
    )
    (directory / "target.toml").write_text(text)
    return directory


def _scenario(tmp_path: Path, target: str, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\ntargets: [{target}]\nload: {{rate: 5/s, duration: 10s}}\n{extra}")
    return path


def test_an_external_manifest_starts_nothing_and_keeps_its_design_kind(tmp_path):
    manifest = load_manifest(_manifest(tmp_path, ledger="sqlite:///x.db"))
    assert manifest.is_external and manifest.kind == "async" and manifest.process == []
    assert manifest.external is not None
    assert manifest.external.provider_url == "http://127.0.0.1:18025"
    assert manifest.external.has_ledger


def test_the_example_external_manifest_loads():
    example = Path(__file__).resolve().parents[2] / "targets/examples/external-async"
    manifest = load_manifest(example)
    assert manifest.is_external and manifest.jobs_path == "/jobs/{job_id}"
    prepared = prepare(BenchPlan(scenario_files=[example / "scenario.yaml"], floor=False))
    assert [d.manifest.name for d in prepared[0].designs] == ["external-async"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "x"\nkind = "external"\n', "needs an [external] table"),
        (
            'name = "x"\nkind = "external"\n[external]\ndesign = "sync"\n'
            'url = "http://127.0.0.1:1"\nledger = "none"\n',
            "provider_listen",
        ),
        (
            'name = "x"\nkind = "external"\n[external]\ndesign = "sync"\nurl = "http://h:1"\n'
            'provider = "none"\nledger = "none"\n[[process]]\nname = "s"\nrole = "server"\n'
            'command = ["x"]\n',
            "offload starts nothing",
        ),
        ('name = "x"\nkind = "sync"\n', "at least one [[process]]"),
        (
            'name = "x"\nkind = "external"\n[external]\ndesign = "sync"\nurl = "h:1"\n'
            'provider = "none"\nledger = "none"\n',
            "external.url",
        ),
    ],
)
def test_a_broken_external_manifest_is_refused_naming_the_field(tmp_path, text, expected):
    (tmp_path / "target.toml").write_text(text)
    with pytest.raises(ManifestError, match=r"target\.toml") as caught:
        load_manifest(tmp_path)
    assert expected in str(caught.value)


def test_remote_addresses_name_the_api_the_ledger_and_the_provider(tmp_path):
    remote = load_manifest(
        _manifest(
            tmp_path,
            url="http://198.18.0.2:8000",
            listen="198.18.0.1:18025",
            ledger="postgresql://u@198.18.0.3:5432/db",
        )
    )
    local = load_manifest(_manifest(tmp_path, name="loc", ledger="sqlite:///x.db"))
    found = remote_addresses([remote, local])
    assert [(a.role, a.host) for a in found] == [
        ("API", "198.18.0.2"),
        ("ledger database", "198.18.0.3"),
        ("provider", "198.18.0.1"),
    ]
    with pytest.raises(RemoteRefused) as caught:
        check_remote(found, allowed=False, command="bench")
    assert "198.18.0.2" in str(caught.value) and "--allow-remote" in str(caught.value)
    check_remote(found, allowed=True, command="bench")  # allowed: no error
    assert remote_hosts_for_generator(remote.external) == ["198.18.0.2"]  # type: ignore[arg-type]
    assert remote_hosts_for_generator(local.external) == []  # type: ignore[arg-type]


def test_bench_refuses_a_remote_target_without_the_flag_before_anything_starts(tmp_path, capsys):
    _manifest(tmp_path, url="http://198.18.0.2:8000")
    scenario = _scenario(tmp_path, "ext")
    reports = tmp_path / "reports"
    code = main(["bench", "--scenario", str(scenario), "--reports-dir", str(reports)])
    err = capsys.readouterr().err
    assert code == 2
    assert "198.18.0.2" in err and "--allow-remote" in err
    assert not reports.exists()  # nothing was started, no run directory


def test_up_refuses_to_listen_on_a_remote_address_without_the_flag(tmp_path, capsys):
    code = main(
        ["up", "--target", "sync", "--host", "198.18.0.2", "--work-dir", str(tmp_path / "up")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "refusing to listen on 198.18.0.2" in err and "--allow-remote" in err
    assert not (tmp_path / "up").exists()  # nothing was started


def test_verify_refuses_a_remote_target_without_the_flag(tmp_path, capsys):
    directory = _manifest(tmp_path, url="http://198.18.0.2:8000")
    code = main(["verify", str(directory)])
    captured = capsys.readouterr()
    assert code == 2
    assert "198.18.0.2" in captured.err and "--allow-remote" in captured.err


def test_provider_faults_are_refused_when_the_target_calls_its_own_provider(tmp_path):
    _manifest(tmp_path, provider="none", listen=None)
    scenario = _scenario(tmp_path, "ext", "faults:\n  - {at: 2s, downstream: timeout}\n")
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.downstream") as caught:
        prepare(BenchPlan(scenario_files=[scenario], floor=False))
    assert 'provider = "none"' in str(caught.value)


def test_a_provider_profile_is_refused_when_the_target_calls_its_own_provider(tmp_path):
    _manifest(tmp_path, provider="none", listen=None)
    scenario = _scenario(tmp_path, "ext", "provider: {latency: 1s}\n")
    with pytest.raises(ScenarioError, match="field 'provider'"):
        prepare(BenchPlan(scenario_files=[scenario], floor=False))


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ("{at: 2s, workers: {kill: 1}}", "workers"),
        ("{at: 2s, api: {kill: 1}}", "api"),
        ("{at: 2s, broker: down}", "broker"),
    ],
)
def test_worker_api_and_broker_faults_are_refused_on_an_external_target(tmp_path, fault, field):
    _manifest(tmp_path)
    scenario = _scenario(tmp_path, "ext", f"faults:\n  - {fault}\n")
    with pytest.raises(ScenarioError, match=rf"faults\[0\]\.{field}") as caught:
        prepare(BenchPlan(scenario_files=[scenario], floor=False))
    assert "external" in str(caught.value)


def test_provider_faults_are_accepted_with_offloads_provider(tmp_path):
    manifest = load_manifest(_manifest(tmp_path))
    scenario_file = _scenario(tmp_path, "ext", "faults:\n  - {at: 2s, downstream: timeout}\n")
    prepared = prepare(BenchPlan(scenario_files=[scenario_file], floor=False))
    check_external_faults(scenario_file, prepared[0].scenario, manifest)  # no error
    assert prepared[0].designs[0].manifest.is_external


#: the generator's own check, in a process of its own (importing Locust patches the process)
HOST_ALLOWED = """
from loadtests.openloop import host_allowed
print([
    host_allowed("http://127.0.0.1:8000", []),
    host_allowed("http://198.18.0.2:8000", []),
    host_allowed("http://198.18.0.2:8000", ["198.18.0.2"]),
    host_allowed("http://198.18.0.3:8000", ["198.18.0.2"]),
])
"""


def test_the_generator_refuses_remote_hosts_unless_the_plan_allows_them():
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", HOST_ALLOWED], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[True, False, True, False]"
    plan = LoadPlan.model_validate(
        {
            "streams": [
                {
                    "name": "signup",
                    "segments": [{"start_s": 0, "end_s": 1, "rate_from": 1, "rate_to": 1}],
                }
            ],
            "duration_s": 1,
        }
    )
    assert plan.allowed_remote_hosts == []  # only a harness told to sets it
