"""``offload completion bash``: the script a user sources completes the real commands and
options (it is generated from the parser, so a new option completes without a second list)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.factories.cli import run_cli

pytestmark = pytest.mark.unit

COMPLETE = """
source "{script}"
complete_line() {{
  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
  _shtab_offload offload "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"
  echo "${{COMPREPLY[*]}}"
}}
complete_line offload be
complete_line offload gate --ba
complete_line offload export run --format o
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_subcommands_options_and_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    generated = run_cli(capsys, "completion", "bash")  # what `offload completion bash` prints
    assert generated.returncode == 0, generated.stderr
    script = tmp_path / "offload.bash"
    script.write_text(generated.stdout)
    result = subprocess.run(
        ["bash", "-c", COMPLETE.format(script=script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["bench", "--base --baseline", "openmetrics"]


def test_zsh_gets_a_compdef_script(capsys: pytest.CaptureFixture[str]):
    result = run_cli(capsys, "completion", "zsh")
    assert result.returncode == 0
    assert result.stdout.startswith("#compdef offload")
    assert '"--load-workers[generate the load with a Locust master' in result.stdout
