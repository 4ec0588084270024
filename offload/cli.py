"""The ``offload`` command: one entry point, one subcommand per job.

Measuring and analysing are separate (as in pyperf): ``bench`` fills a run directory;
``report``, ``gate`` and ``baseline`` only read one. Every error the harness knows about is an
:class:`~offload.errors.OffloadError`; it is printed as one message with the error's exit code,
never as a traceback (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from rich.console import Console

from offload import __version__
from offload.errors import OffloadError

#: subcommand name → module providing ``add_arguments(parser)`` and ``run(args) -> int``
COMMANDS: dict[str, str] = {
    "up": "offload.commands.up",
    "bench": "offload.commands.bench",
    "report": "offload.commands.report",
    "gate": "offload.commands.gate",
    "baseline": "offload.commands.baseline",
    "verify": "offload.commands.verify",
    "dlq": "offload.commands.dlq",
    "probe": "offload.commands.probe",
}

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="offload",
        description="Compare a synchronous API with a queue-backed one under the same load.",
    )
    parser.add_argument("--version", action="version", version=f"offload {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args._run
    try:
        return run(args)
    except OffloadError as exc:
        if args.debug:
            raise
        err_console.print(f"[bold red]offload {args.command}:[/] {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print(f"[yellow]offload {args.command}: interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
