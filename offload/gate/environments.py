"""The Python that runs the base revision: the candidate's own, or a cached virtualenv.

A revision's dependencies are its ``pyproject.toml`` and ``constraints.txt``; their SHA-256 names
its environment. When the base's pair of files is byte-identical to the candidate's — the usual
case for a pull request that changes code, not dependencies — the base runs on the candidate's
interpreter. Otherwise a virtualenv is built once under the cache directory
(``$XDG_CACHE_HOME/offload/venvs/<hash>``, default ``~/.cache/offload/venvs/<hash>``) and reused
by every later gate against a base with the same files. Either way the base's *code* comes from
its worktree (``PYTHONPATH``), never from an installed copy.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

from offload.errors import GateFailed

DEPENDENCY_FILES = ("pyproject.toml", "constraints.txt")
#: written last by a complete install, so a half-built virtualenv is rebuilt, not used
READY_MARK = ".offload-ready"


def dependency_hash(tree: Path) -> str:
    """SHA-256 over the revision's dependency files (a missing file counts as absent)."""
    digest = hashlib.sha256()
    for name in DEPENDENCY_FILES:
        file = tree / name
        digest.update(name.encode() + b"\0")
        digest.update(file.read_bytes() if file.is_file() else b"(absent)")
        digest.update(b"\0")
    return digest.hexdigest()


def default_cache_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "offload" / "venvs"


def base_python(base_tree: Path, candidate_tree: Path, cache_dir: Path, log: Path) -> Path:
    """The interpreter for the base: the current one when the dependencies match, else the
    cached virtualenv for the base's dependency files (built now when missing)."""
    wanted = dependency_hash(base_tree)
    if wanted == dependency_hash(candidate_tree):
        return Path(sys.executable)
    env_dir = cache_dir / wanted
    python = env_dir / "bin" / "python"
    if (env_dir / READY_MARK).is_file() and python.is_file():
        return python
    _build(env_dir, base_tree, log)
    return python


def _build(env_dir: Path, tree: Path, log: Path) -> None:
    """A virtualenv with the base's dependencies, pinned by its constraints.txt when it has one."""
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    if (tree / "constraints.txt").is_file():
        command += ["-c", str(tree / "constraints.txt")]
    command.append(str(tree))
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise GateFailed(
            f"cannot install the base revision's dependencies into {env_dir} "
            f"(pip exit {result.returncode}; log: {log})"
        )
    (env_dir / READY_MARK).write_text("")
