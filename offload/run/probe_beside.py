"""The broker probe beside a design's load (``load.broker_probe_rate``).

Why beside, and why a process of its own: the async design's accept path ends in a publish
with a confirm, and the fair reference for its latency is that bare publish on the machine as
the load leaves it — not on an idle one, where at a high rate broker, API, workers and
generator no longer share two cores. In its own process the probe's timings are not held up by
the harness's threads (sampler, scraper, timeline), and its CPU is not counted as the design's.

The harness starts it before t=0 (its connection, queue and warm-up publishes are done in the
warm-up), it publishes paced from t=0 through the measured part, writes
``broker-probe.json`` and exits; the harness waits for it after the load, bounded. The broker's
URL, which holds a password, reaches it in the environment, never on a command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from offload.errors import OffloadError
from offload.run.broker_probe import measure_beside_load
from offload.run.supervisor import ProcessSpec, Supervised, Supervisor, python_module
from offload.rundir.broker_probe import BrokerProbeBesideLoad
from offload.scenario import Scenario
from offload.target.manifest import TargetManifest

#: the environment variable the probe's process reads the broker's URL from
URL_ENV = "OFFLOAD_BROKER_PROBE_URL"
#: seconds the harness waits, after the load, for the probe to write its file and exit
FINISH_TIMEOUT_S = 20.0


def unprobed(scenario: Scenario, manifest: TargetManifest, design_name: str) -> str | None:
    """Why a queue-backed design's run has no probe beside its load although the scenario asks
    for one (None: it has one, or needs none). Only a broker offload administers can be probed:
    an external target's broker is its own."""
    if not scenario.load.broker_probe_rate or manifest.kind != "async":
        return None
    if manifest.is_external:
        return (
            f"{design_name}: no broker probe beside its load (load.broker_probe_rate): it is an "
            f"external target, and offload does not know its broker"
        )
    return None


def start_probe(
    supervisor: Supervisor,
    design_dir: Path,
    *,
    amqp_url: str,
    rate: float,
    t0_epoch: float,
    duration_s: float,
) -> Supervised:
    """Start the probe's process: paced at ``rate`` from ``t0_epoch`` for ``duration_s``."""
    argv = python_module(
        __name__,
        "--rate", f"{rate:g}",
        "--start", f"{t0_epoch:.6f}",
        "--duration", f"{duration_s:g}",
        "--out", str(design_dir / BrokerProbeBesideLoad.FILE_NAME),
    )  # fmt: skip
    return supervisor.start(
        ProcessSpec(
            name="broker-probe",
            argv=argv,
            env={URL_ENV: amqp_url},
            log_path=design_dir / "logs" / "broker-probe.log",
            stop_timeout=5,
            # possibly before the generator: no crash of the design's components (which
            # would stop the run); :func:`finish_probe` judges how it ended
            ends_by_itself=True,
        )
    )


def finish_probe(probe: Supervised, design_dir: Path) -> str | None:
    """Wait for the probe to end (bounded) and stop it; None when its file was written, else
    why the figure is missing (the run cannot state its reference and is invalid)."""
    ended = probe.wait(FINISH_TIMEOUT_S)
    code = probe.stop()
    path = design_dir / BrokerProbeBesideLoad.FILE_NAME
    if ended and code == 0 and path.exists():
        return None
    why = f"exited with code {code}" if ended else f"still running {FINISH_TIMEOUT_S:g} s after"
    return (
        f"the broker probe beside the load {why} and measured nothing "
        f"(see logs/broker-probe.log):\n{probe.tail(6)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offload-broker-probe", description=__doc__)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--start", type=float, required=True, help="epoch seconds")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    url = os.environ.get(URL_ENV)
    if not url:
        print(f"{URL_ENV} is not set: no broker to probe", file=sys.stderr)
        return 2
    try:
        probe = measure_beside_load(
            url, rate=args.rate, start_epoch=args.start, duration_s=args.duration
        )
    except OffloadError as exc:
        print(exc, file=sys.stderr)
        return 1
    probe.dump(args.out)
    confirm = probe.paced.confirm
    print(
        f"{probe.paced.confirmed} publishes at {probe.paced.achieved_rate:.1f}/s: "
        f"confirm p50 {confirm.p50_ms:.2f} ms, p99 {confirm.p99_ms:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
