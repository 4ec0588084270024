"""Network namespaces for the tests that put a target, a master or a load worker on a
"host" of its own without leaving the machine (addresses from 198.18.0.0/15 only, inside the
namespaces). Where namespaces cannot be made (not root, no ``ip``) the test is skipped with
the reason, never failed."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def ip(*args: str) -> None:
    """``ip ARGS``, failing the test with ip's own message when it refuses."""
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def add_namespace_or_skip(name: str) -> None:
    """Create namespace ``name``, or skip the test saying why it cannot be made here."""
    if shutil.which("ip") is None:
        pytest.skip("no `ip` command: network namespaces cannot be created here")
    try:
        ip("netns", "add", name)
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        pytest.skip(f"cannot create a network namespace (`ip netns add`): {detail.strip()}")


def delete_namespace(name: str) -> None:
    """Remove namespace ``name`` (and the veth ends inside it); quiet if it is gone."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
