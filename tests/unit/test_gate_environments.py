"""Which Python runs the base revision: the candidate's when the dependency files match, else a
virtualenv cached by their hash (reused once complete)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from offload.gate.environments import READY_MARK, base_python, dependency_hash

pytestmark = pytest.mark.unit


def tree(root: Path, pyproject: str, constraints: str | None = "pika==1.4.4\n") -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(pyproject)
    if constraints is not None:
        (root / "constraints.txt").write_text(constraints)
    return root


def test_identical_dependency_files_share_the_candidates_interpreter(tmp_path: Path):
    base = tree(tmp_path / "base", "[project]\nname = 'x'\n")
    candidate = tree(tmp_path / "candidate", "[project]\nname = 'x'\n")
    cache = tmp_path / "cache"
    assert base_python(base, candidate, cache, tmp_path / "log") == Path(sys.executable)
    assert not cache.exists()


def test_the_hash_changes_with_either_file_and_with_a_missing_one(tmp_path: Path):
    a = dependency_hash(tree(tmp_path / "a", "p"))
    assert dependency_hash(tree(tmp_path / "b", "p", "pika==1.4.5\n")) != a
    assert dependency_hash(tree(tmp_path / "c", "q")) != a
    assert dependency_hash(tree(tmp_path / "d", "p", None)) != a
    assert dependency_hash(tree(tmp_path / "e", "p")) == a


def test_a_complete_cached_environment_is_reused(tmp_path: Path):
    base = tree(tmp_path / "base", "old")
    candidate = tree(tmp_path / "candidate", "new")
    cached = tmp_path / "cache" / dependency_hash(base)
    (cached / "bin").mkdir(parents=True)
    (cached / "bin" / "python").write_text("")
    (cached / READY_MARK).write_text("")
    assert base_python(base, candidate, tmp_path / "cache", tmp_path / "log") == (
        cached / "bin" / "python"
    )
