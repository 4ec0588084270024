"""Known slowdowns of the reference designs, for the gate to catch: each is a real edit of one
signup handler, committed in a temporary clone (never in this tree, and never by editing the
gate), so the gate measures a real candidate revision.

Used by the A/B gate's integration test and by ``make gate-sensitivity SLOWDOWN=NAME``, which
runs the gate N times against such a commit and counts how often it is caught. Run as a script:
``python tests/factories/slowdowns.py NAME TREE`` edits TREE's file and prints what it did.
Only the standard library is used, so any interpreter runs it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

#: the async API's POST /users handler: its docstring's last words, then the handler's body
ASYNC_HANDLER = '''answer without waiting for it."""\n'''
#: the sync API's POST /users handler
SYNC_HANDLER = "    def create_user() -> tuple[Response, int]:\n"


@dataclass(frozen=True)
class Slowdown:
    path: str
    anchor: str
    inserted: str
    what: str


SLOWDOWNS: dict[str, Slowdown] = {
    "async-2ms": Slowdown(
        "targets/async_api/app.py",
        ASYNC_HANDLER,
        "        await asyncio.sleep(0.002)\n",
        "the async API sleeps 2 ms in every signup",
    ),
    "async-30ms": Slowdown(
        "targets/async_api/app.py",
        ASYNC_HANDLER,
        "        await asyncio.sleep(0.030)\n",
        "the async API sleeps 30 ms in every signup",
    ),
    "sync-12ms": Slowdown(
        "targets/sync_api/app.py",
        SYNC_HANDLER,
        "        __import__('time').sleep(0.012)\n",
        "the sync API sleeps 12 ms in every signup (about 20 % of its signup p50 at 20/s)",
    ),
}


def apply_slowdown(name: str, tree: Path) -> Slowdown:
    """Edit ``tree`` so that the slowdown ``name`` is in it (the caller commits)."""
    if name not in SLOWDOWNS:
        raise SystemExit(f"unknown slowdown {name!r}; one of: {', '.join(SLOWDOWNS)}")
    slowdown = SLOWDOWNS[name]
    path = tree / slowdown.path
    text = path.read_text()
    if slowdown.anchor not in text:
        raise SystemExit(
            f"{path}: the signup handler's anchor {slowdown.anchor.strip()!r} is not there; "
            "update tests/factories/slowdowns.py to the handler as it is now"
        )
    path.write_text(text.replace(slowdown.anchor, slowdown.anchor + slowdown.inserted, 1))
    return slowdown


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: slowdowns.py NAME TREE")
    done = apply_slowdown(sys.argv[1], Path(sys.argv[2]))
    print(f"{sys.argv[1]}: {done.what} ({done.path})")
