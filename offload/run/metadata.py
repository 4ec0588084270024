"""What a run records about where and with what it ran (as pyperf's collect_metadata does).

Metadata travels with the numbers: a figure without the versions, the machine and the
configuration that produced it cannot be compared with anything.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from offload import __version__
from offload.provisioning.amqp import blocking_connection
from offload.rundir.run_info import GitInfo, MachineInfo

REPO_ROOT = Path(__file__).resolve().parents[2]

#: distributions whose versions shape the results
_PACKAGES = (
    "locust", "gevent", "geventhttpclient", "pika", "flask", "gunicorn", "fastapi", "starlette",
    "uvicorn", "uvloop", "httptools", "sqlalchemy", "psycopg", "httpx", "aiohttp", "pydantic",
    "hdrhistogram", "pandas", "matplotlib",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "offload": __version__}
    for name in _PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def git_info() -> GitInfo:
    """The commit the harness and targets came from, and whether the tree had local edits."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return GitInfo(sha=sha, dirty=bool(status) if status is not None else None)


def machine_info() -> MachineInfo:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    freq = None
    with contextlib.suppress(Exception):
        current = psutil.cpu_freq()
        freq = round(current.max or current.current) if current else None
    return MachineInfo(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        cpus=psutil.cpu_count(logical=True),
        physical_cpus=psutil.cpu_count(logical=False),
        cpu_model=_cpu_model(),
        cpu_mhz=freq,
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        load_average=[round(x, 2) for x in load if x is not None],
        python_executable=sys.executable,
    )


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def rabbitmq_version(amqp_url: str) -> str | None:
    """The broker's own version, from the server properties of an AMQP handshake."""
    try:
        with blocking_connection(amqp_url, timeout=3) as connection:
            props = connection._impl.server_properties
            version = props.get("version", b"")
            return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return None
