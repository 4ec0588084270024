"""The two revisions of an A/B gate: the candidate (the working tree) and the base (a commit).

Everything that can make the comparison meaningless is refused before anything runs, with one
line saying what to do (exit 2): no git, a working tree with uncommitted changes (the candidate
must be a state someone can check out again), a base that does not resolve — typically a
shallow CI clone that never fetched it. The base is checked out into a temporary, detached
``git worktree`` that is removed afterwards, also on Ctrl-C and errors.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from offload.errors import GateFailed


@dataclass(frozen=True)
class Revision:
    """A commit as the gate reports it: what the user wrote, and the commit it names."""

    ref: str
    sha: str

    @property
    def short(self) -> str:
        return self.sha[:10]


def require_git() -> str:
    """The git executable, or a refusal: the A/B gate checks the base out with git."""
    git = shutil.which("git")
    if git is None:
        raise GateFailed(
            "git is not on PATH: `offload gate --base` checks the base revision out with git; "
            "install git, or gate a stored run with `offload gate RUN_DIR --baseline FILE`"
        )
    return git


def repository_root(start: Path) -> Path:
    """The top of the git working tree holding ``start``: the candidate."""
    result = _git(start, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise GateFailed(
            f"{start} is not inside a git working tree: `offload gate --base` compares the "
            "working tree with a commit of its repository"
        )
    return Path(result.stdout.strip())


def require_clean(root: Path) -> None:
    """Refuse uncommitted changes to tracked files: the candidate must be a commit."""
    result = _git(root, "status", "--porcelain", "--untracked-files=no")
    if result.returncode != 0:
        raise GateFailed(f"git status failed in {root}: {_first_line(result.stderr)}")
    changed = [line[3:] for line in result.stdout.splitlines() if line.strip()]
    if changed:
        shown = ", ".join(changed[:3]) + (
            f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        )
        raise GateFailed(
            f"the working tree has uncommitted changes ({shown}): the candidate must be a "
            "commit-able state; commit them (git commit -am ...) or set them aside "
            "(git stash), then run the gate again"
        )


def resolve(root: Path, ref: str) -> Revision:
    """The commit ``ref`` names in this clone, or a refusal that says how to get it."""
    result = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if result.returncode == 0 and result.stdout.strip():
        return Revision(ref=ref, sha=result.stdout.strip())
    shallow = _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    if shallow:
        raise GateFailed(
            f"the base {ref!r} is not in this shallow clone: fetch the history first "
            "(git fetch --unshallow; in GitHub Actions, actions/checkout with fetch-depth: 0)"
        )
    raise GateFailed(
        f"the base {ref!r} does not name a commit in {root} (a branch, tag or SHA; "
        "fetch it first if it lives on a remote: git fetch origin REF)"
    )


def head(root: Path) -> Revision:
    return resolve(root, "HEAD")


@contextmanager
def checked_out(root: Path, revision: Revision) -> Iterator[Path]:
    """A detached worktree of ``revision`` in a temporary directory, removed on exit."""
    parent = Path(tempfile.mkdtemp(prefix="offload-base-"))
    tree = parent / "base"
    added = _git(root, "worktree", "add", "--detach", "--quiet", str(tree), revision.sha)
    if added.returncode != 0:
        shutil.rmtree(parent, ignore_errors=True)
        raise GateFailed(
            f"cannot check the base {revision.ref} ({revision.short}) out: "
            f"{_first_line(added.stderr)}"
        )
    try:
        yield tree
    finally:
        _git(root, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        _git(root, "worktree", "prune")


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"
