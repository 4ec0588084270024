"""``targets/`` and ``loadtests/`` stand on their own: a target runs, and the locustfile
loads, on a machine without the harness; their errors are their own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.plan import PlanError, load_plan
from offload.ports import is_loopback as harness_is_loopback
from targets.downstream.__main__ import is_loopback as provider_is_loopback

ROOT = Path(__file__).resolve().parents[2]

#: imports every module of a package while any import of ``offload`` fails
IMPORT_WITHOUT_THE_HARNESS = """
import importlib, importlib.abc, pkgutil, sys

class NoHarness(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "offload" or name.startswith("offload."):
            raise ModuleNotFoundError(f"no module named {name!r}: the harness is not installed")
        return None

sys.meta_path.insert(0, NoHarness())
try:
    import offload
except ModuleNotFoundError:
    pass
else:
    sys.exit("the harness could still be imported")
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
    print(module.name)
"""


@pytest.mark.parametrize(
    ("package", "some_modules"),
    [
        (
            "targets",
            {"targets.downstream.__main__", "targets.async_api.worker", "targets.sync_api.app"},
        ),
        ("loadtests", {"loadtests.signup", "loadtests.openloop", "loadtests.plan"}),
    ],
)
def test_every_module_imports_without_the_harness(package, some_modules):
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_THE_HARNESS, package],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert some_modules <= set(result.stdout.split())


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "[::1]",
        "localhost",
        "0.0.0.0",
        "10.0.0.1",
        "example.com",
        "",
    ],
)
def test_the_provider_listens_on_exactly_the_hosts_the_harness_calls_loopback(host):
    assert provider_is_loopback(host) == harness_is_loopback(host)


def test_an_unreadable_load_plan_is_a_plan_error_naming_the_file(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(PlanError, match=f"cannot read load plan {missing}"):
        load_plan(missing)

    broken = tmp_path / "broken.json"
    broken.write_text('{"streams": []}')
    with pytest.raises(PlanError, match=f"(?s)invalid load plan {broken}.*streams"):
        load_plan(broken)
