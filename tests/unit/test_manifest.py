"""Target manifests: the shipped ones load, and a broken one is refused with the file and field.

A user bringing their own target meets these messages first, so each kind of mistake must
name the manifest file and the field — through ``load_manifest`` and through ``offload verify``
(exit code 2, one message, no traceback) — before any process starts.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

from offload.commands import verify as verify_command
from offload.errors import ManifestError
from offload.target.manifest import MANIFEST_NAME, builtin_targets, load_manifest, resolve_target

GOOD = """\
name = "mine"
kind = "sync"
health_path = "/healthz"

[metadata]
framework = "Flask"

[[process]]
name = "api"
role = "server"
command = ["{python}", "-m", "gunicorn", "--bind", "{host}:{port}", "app:create_app()"]
"""

WORKER = """
[[process]]
name = "worker"
role = "worker"
command = ["{python}", "worker.py"]
"""

#: case → (manifest text, fragments the error must contain besides the file name)
BROKEN: dict[str, tuple[str, list[str]]] = {
    "missing name": (GOOD.replace('name = "mine"\n', ""), ["field 'name'", "required"]),
    "bad kind": (GOOD.replace('kind = "sync"', 'kind = "queue"'), ["field 'kind'", "'sync'"]),
    "unknown placeholder": (
        GOOD.replace("{port}", "{prot}"),
        ["field 'process.api.command[4]'", "unknown placeholder {prot}"],
    ),
    "no server process": (
        GOOD.replace('role = "server"', 'role = "worker"'),
        ['exactly one process must have role = "server"', "found 0"],
    ),
    "two server processes": (
        GOOD + WORKER.replace('role = "worker"', 'role = "server"'),
        ['exactly one process must have role = "server"', "found 2"],
    ),
    "TOML syntax error": (GOOD + "oops = \n", ["not valid TOML", "line 12"]),
    "duplicate process names": (
        GOOD + WORKER.replace('name = "worker"', 'name = "api"'),
        ["process names must be unique", "'api', 'api'"],
    ),
    "unknown concurrency": (
        GOOD.replace('kind = "sync"', 'kind = "sync"\nconcurrency = "greenlets"'),
        ["field 'concurrency'", "'processes', 'threads' or 'event-loop'"],
    ),
    "fractional count": (
        GOOD + WORKER + "count = 1.5\n",
        ["process.worker.count", "whole number"],
    ),
}


def write_manifest(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / MANIFEST_NAME
    file.write_text(text)
    return file


def verify(target: str) -> int:
    parser = argparse.ArgumentParser(prog="offload verify")
    verify_command.add_arguments(parser)
    return verify_command.run(parser.parse_args([target]))


def test_shipped_manifests_load_with_their_kind_and_one_server():
    shipped = builtin_targets()
    assert {"sync", "async"} <= set(shipped)
    sync, async_ = resolve_target("sync"), resolve_target("async")
    assert (sync.kind, async_.kind) == ("sync", "async")
    assert sync.server.name == async_.server.name == "api"
    assert async_.uses_broker and not sync.uses_broker
    assert async_.jobs_path == "/jobs/{job_id}"
    for directory in shipped.values():
        assert load_manifest(directory / MANIFEST_NAME).directory == directory.resolve()


def test_the_matrix_designs_answer_201_and_sync_threads_serves_the_sync_app_itself():
    """The controls share the sync kind (201 with the user, no job to drain); sync-threads
    is the sync design's own app (not a copy) behind another gunicorn worker class."""
    controls = {
        name: resolve_target(name) for name in ("sync-threads", "inline-async", "background")
    }
    assert {m.kind for m in controls.values()} == {"sync"}
    assert not any(m.uses_broker for m in controls.values())
    threads = controls["sync-threads"].server.command
    assert "targets.sync_api.app:create_app()" in threads
    assert threads[threads.index("--worker-class") + 1] == "gthread"
    assert controls["sync-threads"].uses_placeholder("server_threads")


def test_shipped_manifests_declare_how_their_server_bounds_concurrency():
    """Declared in each file, not left to the default: the capacity model reads it."""
    declared = {
        name: tomllib.loads((directory / MANIFEST_NAME).read_text()).get("concurrency")
        for name, directory in builtin_targets().items()
    }
    assert declared == {
        "sync": "processes",
        "sync-threads": "threads",
        "inline-async": "event-loop",
        "background": "event-loop",
        "async": "event-loop",
        "outbox": "event-loop",
    }


def test_the_outbox_design_reuses_the_async_worker_and_topology_and_adds_one_relay():
    """Same worker and queues as async; the relay is not a "worker", so worker faults (kill,
    scale) never hit it, and only it (not the API) may publish."""
    outbox, async_ = resolve_target("outbox"), resolve_target("async")
    assert outbox.kind == "async" and outbox.jobs_path == async_.jobs_path
    processes = {p.name: p for p in outbox.process}
    async_worker = next(p for p in async_.process if p.name == "worker")
    assert processes["worker"].command == async_worker.command
    assert (processes["relay"].role, processes["relay"].count) == ("other", 1)
    assert outbox.broker is not None and async_.broker is not None
    assert outbox.broker.declare == async_.broker.declare
    assert outbox.broker.queues == async_.broker.queues
    grants = outbox.broker.permissions
    assert grants["server"].write == grants["server"].read == "^$"
    assert grants["other"].write == async_.broker.permissions["server"].write
    assert grants["worker"] == async_.broker.permissions["worker"]


def test_a_manifest_without_concurrency_keeps_the_worker_model(tmp_path):
    write_manifest(tmp_path / "mine", GOOD)
    assert load_manifest(tmp_path / "mine").concurrency == "processes"


def test_a_good_manifest_in_any_directory_loads(tmp_path):
    write_manifest(tmp_path / "mine", GOOD)
    manifest = resolve_target(str(tmp_path / "mine"))
    assert (manifest.name, manifest.kind, manifest.metadata) == (
        "mine",
        "sync",
        {"framework": "Flask"},
    )
    assert manifest.directory == (tmp_path / "mine").resolve()


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_manifest_names_the_file_and_the_field(tmp_path, case):
    text, fragments = BROKEN[case]
    file = write_manifest(tmp_path / "broken", text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(file.parent)
    message = str(caught.value)
    assert str(file) in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("case", list(BROKEN))
def test_verify_exits_2_with_the_manifest_error_and_no_traceback(tmp_path, capsys, case):
    text, fragments = BROKEN[case]
    file = write_manifest(tmp_path / "broken", text)
    assert verify(str(file.parent)) == 2
    out, err = capsys.readouterr()
    assert str(file) in err
    for fragment in fragments:
        assert fragment in err
    assert "Traceback" not in out + err


def test_verify_refuses_a_count_that_is_not_a_whole_number_before_starting_anything(
    tmp_path, capsys
):
    file = write_manifest(tmp_path / "broken", GOOD + WORKER + 'count = "two"\n')
    assert verify(str(file.parent)) == 2
    err = capsys.readouterr().err
    assert str(file) in err
    assert "field 'process.worker.count'" in err
    assert "'two'" in err


def test_load_manifest_refuses_a_count_that_is_not_a_whole_number(tmp_path):
    file = write_manifest(tmp_path / "broken", GOOD + WORKER + 'count = "two"\n')
    with pytest.raises(ManifestError, match=r"process\.worker\.count"):
        load_manifest(file.parent)


def test_verify_of_an_unknown_name_or_an_empty_directory_exits_2(tmp_path, capsys):
    assert verify("no-such-target") == 2
    assert "built-in: " in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert verify(str(tmp_path / "empty")) == 2
    assert f"no target manifest here (expected a {MANIFEST_NAME})" in capsys.readouterr().err
