"""The ``offload`` command: one entry point, one subcommand per job.

Measuring and analysing are separate (as in pyperf): ``bench`` fills a run directory;
``report``, ``gate`` and ``baseline`` only read one. Every error the harness knows about is an
:class:`~offload.errors.OffloadError`; it is printed as one message with the error's exit code,
never as a traceback (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from types import ModuleType

from rich.console import Console

from offload import __version__
from offload.errors import OffloadError

#: subcommand name → (module providing ``add_arguments(parser)`` and ``run(args) -> int``,
#: the one-line help). The help lives here, not in the module, so that ``offload --help``
#: lists every command without importing any (they import pandas, scipy, matplotlib).
COMMANDS: dict[str, tuple[str, str]] = {
    "up": (
        "offload.commands.up",
        "start the provider and both designs for exploring by hand",
    ),
    "bench": (
        "offload.commands.bench",
        "run scenarios against the designs and record a run directory",
    ),
    "report": (
        "offload.commands.report",
        "re-render a run directory's reports (charts, report.md, report.html, report.pdf, index)",
    ),
    "gate": (
        "offload.commands.gate",
        "gate a change against a base revision (A/B) or a run against a baseline (exit 0, 1, 2)",
    ),
    "baseline": (
        "offload.commands.baseline",
        "save a run as a baseline file for `offload gate --baseline`, or show one",
    ),
    "verify": (
        "offload.commands.verify",
        "check that a target honours the contract before benchmarking it",
    ),
    "dlq": (
        "offload.commands.dlq",
        "list the async design's dead letters, or send them back to the work queue",
    ),
    "probe": (
        "offload.commands.probe",
        "measure the harness itself (the load generator's floor) or the broker alone",
    ),
    "spread": (
        "offload.commands.spread",
        "how far the gate's metrics move on unchanged code (A/A runs of make gate-aa)",
    ),
    "export": (
        "offload.commands.export",
        "write a run's figures as OpenMetrics text (Prometheus, Grafana)",
    ),
    "completion": (
        "offload.commands.completion",
        "print a bash or zsh completion script",
    ),
    "sweep": (
        "offload.commands.sweep",
        "cross designs × rates × provider latencies: curves, maximum rates, crossover map",
    ),
    "load-worker": (
        "offload.commands.load_worker",
        "join a bench on another host as a Locust load worker (offload bench --master-bind)",
    ),
}

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

#: help texts are read in a terminal: reStructuredText marks become plain words
_RST_ROLE = re.compile(r":\w+:`~?(?:[\w.]+\.)?([^`]+)`")
_RST_LITERAL = re.compile(r"``([^`]+)``|`([^`]+)`")
HELP_WIDTH = 79


def unmarked(text: str) -> str:
    """``code`` becomes 'code' and a :role:`target` its last name: the words, no markup."""
    text = _RST_ROLE.sub(lambda m: m.group(1), text)
    return _RST_LITERAL.sub(lambda m: f"'{m.group(1) or m.group(2)}'", text)


def plain(text: str) -> str:
    """A docstring as terminal text: ``code`` and :role:`target` marks dropped, each paragraph
    refilled (the description is printed as written, so that epilogs keep their lines)."""
    paragraphs = [" ".join(p.split()) for p in unmarked(text).strip().split("\n\n")]
    return "\n\n".join(textwrap.fill(p, HELP_WIDTH) for p in paragraphs if p)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default shown, unless it is nothing (None, False, an empty list) or the
    help text already says it; descriptions and epilogs keep the lines :func:`plain` gave."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if (
            "default" in help_text
            or action.default in (None, False, [], argparse.SUPPRESS)
            or action.nargs == 0  # a flag: its default is "not given"
            or not action.option_strings
        ):
            return help_text
        return help_text + " (default: %(default)s)"


def _add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    module_name, help_text = COMMANDS[name]
    module: ModuleType = importlib.import_module(module_name)
    epilog = getattr(module, "EPILOG", None)
    command = sub.add_parser(
        name,
        help=unmarked(help_text),
        description=plain(module.__doc__ or help_text),
        epilog=epilog,
    )
    module.add_arguments(command)
    _tidy(command)
    command.set_defaults(_run=module.run)


def _tidy(parser: argparse.ArgumentParser) -> None:
    """Plain help texts and shown defaults for a parser and its nested actions alike
    (baseline save, dlq show)."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if action.help:
            action.help = unmarked(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = unmarked(choice.help or "")
            for nested in action.choices.values():
                if nested.description:
                    nested.description = plain(nested.description)
                _tidy(nested)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, that command's options in full and every other
    command by its name and help alone (nothing imported for them)."""
    parser = argparse.ArgumentParser(
        prog="offload",
        description="Compare a synchronous API with a queue-backed one under the same load.",
    )
    parser.add_argument("--version", action="version", version=f"offload {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        if only is None or name == only:
            _add_command(sub, name)
        else:
            sub.add_parser(name, help=unmarked(help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # only the command asked for is imported; `offload --help` and a mistyped command import
    # none (the command name is the first word that is not an option: the top-level options
    # take no value)
    chosen = next((word for word in argv if not word.startswith("-")), "")
    parser = build_parser(only=chosen if chosen in COMMANDS else "")
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
