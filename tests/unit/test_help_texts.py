"""`offload COMMAND --help` reads as terminal text: no reStructuredText marks, no source
paths, every option's default shown, and the exit codes of bench, report and gate listed."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from offload.cli import COMMANDS, build_parser, plain


def _help(*words: str) -> str:
    parser = build_parser()
    for word in words:
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = sub.choices[word]
    return parser.format_help()


def _every_help() -> list[tuple[str, ...]]:
    commands: list[tuple[str, ...]] = [()]
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        commands.append((name,))
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                commands += [(name, nested) for nested in action.choices]
    return commands


@pytest.mark.parametrize("words", _every_help(), ids=lambda w: " ".join(w) or "offload")
def test_help_shows_no_markup_and_no_source_path(words):
    text = _help(*words)
    assert "`" not in text
    assert not re.search(r":\w+:", text), text
    assert not re.search(r"\b(offload|targets|loadtests|tests)/[\w/]*\.py\b", text), text


@pytest.mark.parametrize("words", _every_help(), ids=lambda w: " ".join(w) or "offload")
def test_every_option_and_argument_says_what_it_is(words):
    parser = build_parser()
    for word in words:
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = sub.choices[word]
    silent = [
        a.option_strings or a.dest
        for a in parser._actions
        if not a.help and not isinstance(a, argparse._SubParsersAction)  # lists its choices
    ]
    assert silent == []


def test_defaults_are_shown():
    assert "run every scenario N times (default: 1)" in " ".join(_help("bench").split())
    assert "(default: 1.0)" in _help("gate")
    assert "server processes per design (default:" in " ".join(_help("up").split())


@pytest.mark.parametrize("command", ["bench", "report", "gate"])
def test_exit_codes_are_listed(command):
    text = _help(command)
    assert "exit codes:" in text
    for code in ("0", "1", "2"):
        assert re.search(rf"^\s+{code}\s+\S", text, re.M), (command, code)


def test_plain_drops_markup_and_refills():
    assert plain("Run ``offload gate`` and see :class:`~offload.errors.OffloadError`.") == (
        "Run 'offload gate' and see OffloadError."
    )


def test_every_command_is_listed_in_the_top_level_help():
    text = _help()
    for name in COMMANDS:
        assert f"    {name}" in text


def test_the_top_level_help_lists_every_command_without_importing_them():
    """`offload --help` answers at once: it imports no command (they pull in pandas, scipy
    and matplotlib, ~3.5 s of CPU), and `offload up --help` imports only `up`."""
    code = (
        "import sys\n"
        "from offload.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('offload.commands.'))\n"
        "print(' '.join(loaded), 'pandas' in sys.modules)\n"
    )
    top = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60
    )
    assert "load-worker" in top.stdout and "sweep" in top.stdout
    assert top.stdout.strip().endswith("False")
    assert "offload.commands." not in top.stdout.splitlines()[-1]
    one = subprocess.run(
        [sys.executable, "-c", code, "export", "--help"], capture_output=True, text=True, timeout=60
    )
    assert one.stdout.splitlines()[-1].split()[:-1] == ["offload.commands.export"]


def test_every_command_that_can_reach_past_loopback_says_the_same_about_allow_remote():
    """One consent flag: wherever it exists it promises that the addresses are printed first."""
    with_flag = [words for words in _every_help() if words and "--allow-remote" in _help(*words)]
    assert sorted(with_flag) == [("bench",), ("load-worker",), ("up",), ("verify",)]
    for words in with_flag:
        text = " ".join(_help(*words).split())
        assert "each address is printed before anything starts" in text, words
