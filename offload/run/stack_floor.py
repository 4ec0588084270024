"""A design's HTTP stack with nothing behind it, under the real generator: its own CPU floor.

Why: an absolute CPU goal for an API ("≤ 1 ms per signup") says as much about the machine as
about the code; what a reviewer needs is how much of the API's cost is the server and the
framework, which every design on that stack pays, and how much its architecture adds. This
starts a design's **own server command** from its manifest — the same server, flags, process
and thread counts — with a bare app (``targets/stack_floor``) in place of the design's, sends
it signups at a steady rate with the generator every bench uses, and reads the CPU of the
server's process tree over the load. The bare app parses and validates each signup through
the designs' shared edge, then answers: no database, broker or provider.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import psutil

from loadtests.plan import Arrivals
from offload.analysis.percentiles import quantiles_ms
from offload.analysis.records import requests
from offload.errors import OffloadError
from offload.ports import LOOPBACK, free_port
from offload.run.floor import send_signups
from offload.run.process_cpu import tree_cpu_s
from offload.run.stack import server_timeout_s, wait_for_health
from offload.run.supervisor import ProcessSpec, Supervisor
from offload.rundir.stack_floor import App, StackFloor
from offload.target.design_config import DesignConfig
from offload.target.manifest import TargetManifest, render_argv

#: the servers the probe knows, by the module their command runs (``python -m <server>``),
#: with the interface of the bare app that replaces the design's and that app's framework
SERVERS = {"uvicorn": ("asgi", "FastAPI"), "gunicorn": ("wsgi", "Flask")}

#: how a design's command names its app: ``targets.<package>.<module>:<factory>`` (uvicorn
#: ``--factory``) or the same with ``()`` (gunicorn's call expression)
_APP_REFERENCE = re.compile(r"^targets\.[\w.]+:\w+(\(\))?$")

#: seconds the bare stack may take to answer its health path
HEALTH_TIMEOUT_S = 30.0
#: seconds the server's processes may take to go quiet once it is healthy
SETTLE_TIMEOUT_S = 30.0
#: a server is settled when its whole tree used at most this share of one core over
#: :data:`SETTLE_WINDOW_S` (idle, a 4-worker gunicorn tree uses next to nothing and a
#: 4-worker uvicorn tree about 1 %: its supervisor pings the workers every 0.5 s and each
#: worker's loop wakes every 0.1 s)
SETTLED_CORE_SHARE = 0.02
SETTLE_WINDOW_S = 0.5


def stack_command(manifest: TargetManifest, app: App) -> tuple[str, list[str]]:
    """The server's name and the design's server command with the bare app in its place.

    Refuses a design whose server is not one the probe knows, or whose command does not name
    exactly one app: replacing the wrong argument would measure something else.
    """
    if manifest.is_external:
        raise OffloadError(
            f"design {manifest.name} is an external target: offload does not start its server"
        )
    command = manifest.server.command
    server = next(
        (command[i + 1] for i, arg in enumerate(command[:-1]) if arg == "-m"),
        None,
    )
    if server not in SERVERS:
        raise OffloadError(
            f"design {manifest.name}: the stack probe runs {' and '.join(SERVERS)} servers, "
            f"and its server command runs {server or 'neither'} ({' '.join(command)})"
        )
    apps = [i for i, arg in enumerate(command) if _APP_REFERENCE.match(arg)]
    if len(apps) != 1:
        raise OffloadError(
            f"design {manifest.name}: expected one app reference (targets.<module>:<factory>) "
            f"in its server command, found {len(apps)} ({' '.join(command)})"
        )
    at = apps[0]
    interface, _ = SERVERS[server]
    factory = "create_app" if app == "framework" else "create_bare_app"
    call = "()" if command[at].endswith("()") else ""
    bare = f"targets.stack_floor.{interface}:{factory}{call}"
    return server, [*command[:at], bare, *command[at + 1 :]]


def measure_stack_floor(
    manifest: TargetManifest,
    *,
    rate: float,
    duration_s: float,
    config: DesignConfig,
    app: App = "framework",
    bystander_rate: float = 0.0,
    arrivals: Arrivals = Arrivals.CONSTANT,
    work_dir: Path | None = None,
) -> StackFloor:
    """Run the design's server with a bare app at ``rate`` signups/s (and ``bystander_rate``
    reads/s beside them, as a scenario sends) and measure its CPU per signup.

    Takes about ``duration_s`` + 4 s. The server's log and the generator's plan, records and
    log stay in ``work_dir`` when one is given; the server is stopped before this returns.
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="offload-stack-") as tmp:
            return measure_stack_floor(
                manifest, rate=rate, duration_s=duration_s, config=config, app=app,
                bystander_rate=bystander_rate, arrivals=arrivals, work_dir=Path(tmp),
            )  # fmt: skip
    server, template = stack_command(manifest, app)
    threaded = any("{server_threads}" in arg for arg in template)
    port = free_port()
    values = {
        "python": sys.executable,
        "host": LOOPBACK,
        "port": port,
        "server_processes": config.server_processes,
        "server_threads": config.server_threads,
        "server_timeout_s": server_timeout_s(config),
        "target_dir": str(manifest.directory),
    }
    try:
        argv = render_argv(template, values)
    except KeyError as exc:
        raise OffloadError(
            f"design {manifest.name}: its server command needs {{{exc.args[0]}}}, which the "
            f"stack probe does not fill (it starts the server alone)"
        ) from None
    work_dir.mkdir(parents=True, exist_ok=True)
    generator_dir = work_dir / "generator"
    with Supervisor() as supervisor:
        process = supervisor.start(
            ProcessSpec(
                name=f"{manifest.name}-stack-floor",
                argv=argv,
                cwd=manifest.directory,
                log_path=work_dir / "server.log",
            )
        )
        url = f"http://{LOOPBACK}:{port}"
        what = f"the {manifest.name} design's stack"
        wait_for_health(url + manifest.health_path, [process], HEALTH_TIMEOUT_S, what=what)
        assert process.pid is not None  # started and healthy
        tree = psutil.Process(process.pid)
        # healthy means one worker answers; the others may still be importing the app, and
        # their start-up is no request's cost (seen: 1.5-2x the per-signup figure at 20/s)
        wait_until_settled(tree, SETTLE_TIMEOUT_S, what=what)
        before = tree_cpu_s(tree)
        send_signups(
            url,
            rate,
            duration_s=duration_s,
            arrivals=arrivals,
            work_dir=generator_dir,
            bystander_rate=bystander_rate,
        )
        after = tree_cpu_s(tree)
        if not process.alive:
            raise OffloadError(
                f"{what} exited with code {process.returncode} during the measurement:\n"
                f"{process.tail()}"
            )
    records = requests(generator_dir)
    ok = records["error_class"] == ""
    signups = records["stream"] == "signup"
    answered = int((ok & signups).sum())
    if answered == 0:
        raise OffloadError(
            f"{what} answered none of {int(signups.sum())} signups (log: {work_dir})"
        )
    measured = records[ok & signups & (records["phase"] == "measured")]
    _, framework = SERVERS[server]
    return StackFloor(
        design=manifest.name,
        component=f"{manifest.name}-{manifest.server.name}",
        server=server,
        app=app,
        framework=framework if app == "framework" else "none",
        server_processes=config.server_processes,
        server_threads=config.server_threads if threaded else None,
        rate=rate,
        bystander_rate=bystander_rate,
        arrivals=arrivals,
        duration_s=duration_s,
        answered=answered,
        failed=int((~ok).sum()),
        server_cpu_s=round(after - before, 3),
        cpu_ms_per_signup=round((after - before) / answered * 1000, 3),
        latency_from_sent=quantiles_ms(measured["ended"] - measured["sent"]),
        measured_at=time.time(),
    )


def wait_until_settled(root: psutil.Process, timeout: float, *, what: str) -> None:
    """Return once ``root``'s tree has been quiet for :data:`SETTLE_WINDOW_S` (its workers done
    starting); refuse to measure a server that never goes quiet within ``timeout``."""
    deadline = time.monotonic() + timeout
    last = tree_cpu_s(root)
    busy = 1.0
    while time.monotonic() < deadline:
        time.sleep(SETTLE_WINDOW_S)
        now = tree_cpu_s(root)
        busy = (now - last) / SETTLE_WINDOW_S
        if busy <= SETTLED_CORE_SHARE:
            return
        last = now
    raise OffloadError(
        f"{what} did not go quiet within {timeout:g}s of answering its health check (its "
        f"processes used {busy:.0%} of a core in the last {SETTLE_WINDOW_S:g} s): its CPU per "
        "signup would include its own start-up"
    )
