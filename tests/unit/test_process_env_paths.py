"""The directories a bench hands its processes (metrics, spans) work from the processes' own
working directory. A design's processes run in their target's folder, while `make bench`
names the run directory relative to the repository (`reports/runs/...`): a relative path
made every metrics-enabled process die at import and silently dropped every API and worker
span of a traced run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from offload.run.stack import metrics_process_env, tracing_process_env
from targets.common.metrics import MULTIPROC_ENV
from targets.common.tracing import DIR_ENV as TRACES_DIR_ENV

pytestmark = pytest.mark.unit

WRITE_ONE_FILE = "import os, sys; open(os.path.join(os.environ[sys.argv[1]], 'probe'), 'w').close()"


@pytest.mark.parametrize(
    ("make_env", "variable"),
    [
        (lambda run: metrics_process_env(run, "async-api", None), MULTIPROC_ENV),
        (lambda run: tracing_process_env(run, "async-worker-1"), TRACES_DIR_ENV),
    ],
    ids=["metrics", "traces"],
)
def test_a_relative_run_directory_reaches_a_process_in_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_env, variable: str
) -> None:
    repository, target_folder = tmp_path / "repo", tmp_path / "repo" / "targets" / "async_api"
    target_folder.mkdir(parents=True)
    monkeypatch.chdir(repository)
    env = make_env(Path("reports/runs/20261202T000000Z/baseline/async"))

    assert Path(env[variable]).is_absolute()
    subprocess.run(
        [sys.executable, "-c", WRITE_ONE_FILE, variable],
        cwd=target_folder,
        env={**os.environ, **env},
        check=True,
        timeout=30,
    )
    written = list((repository / "reports").rglob("probe"))
    assert [path.parent for path in written] == [Path(env[variable])]
