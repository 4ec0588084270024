"""Print a report page to PDF with headless Chromium, for reviews that want one file to attach.

The page is printed exactly as a browser shows it (the print stylesheet of ``html.CSS``
applies), so the PDF carries the same embedded charts. Chromium is optional: without it the
PDF is skipped and the caller says so; a report never fails for want of a PDF.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

#: names Chromium is installed under (Debian: chromium; elsewhere often one of the others)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: a report page prints in about a second; a hung browser must not hang the report
PRINT_TIMEOUT_S = 90.0
#: pages printed at once, at most (and never more than the machine's cores)
PARALLEL_PRINTS = 4


@dataclass(frozen=True)
class PdfResult:
    """What became of one page: ``pdf`` when printed, else ``reason`` says why not."""

    html: Path
    pdf: Path | None
    reason: str = ""


def find_chromium() -> str | None:
    """The Chromium executable on PATH (``$OFFLOAD_CHROMIUM`` overrides), or None."""
    override = os.environ.get("OFFLOAD_CHROMIUM")
    if override:
        return shutil.which(override)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def headless_arguments(profile: Path) -> list[str]:
    """Flags every headless start shares: a throwaway profile, no GPU, and no sandbox when
    running as root (Chromium refuses to start as root with it; the page is our own
    self-contained file without script)."""
    arguments = [
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        arguments.append("--no-sandbox")
    return arguments


def print_pdf(page: Path, chromium: str | None = None) -> PdfResult:
    """Print ``page`` (a report.html) to ``report.pdf`` beside it."""
    chromium = chromium or find_chromium()
    if chromium is None:
        return PdfResult(page, None, "Chromium is not installed (apt-get install chromium)")
    target = page.with_suffix(".pdf")
    target.unlink(missing_ok=True)
    # Chromium's helper processes may still write to the profile as it exits
    with tempfile.TemporaryDirectory(
        prefix="offload-chromium-", ignore_cleanup_errors=True
    ) as profile:
        command = [
            chromium,
            *headless_arguments(Path(profile)),
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            page.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return PdfResult(page, None, f"Chromium did not finish within {PRINT_TIMEOUT_S:g} s")
    if not target.exists() or target.stat().st_size == 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return PdfResult(page, None, f"Chromium exited {done.returncode}: {last}")
    return PdfResult(page, target)


def print_pdfs(pages: list[Path]) -> list[PdfResult]:
    """Every page printed, or each one's reason why not (one lookup of Chromium for all).

    The pages print side by side, one Chromium per core at most: each start is a second or
    two of one core's work, and this runs after the bench has measured everything, so
    nothing it slows is being measured."""
    chromium = find_chromium()
    workers = max(1, min(len(pages), os.cpu_count() or 1, PARALLEL_PRINTS))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda page: print_pdf(page, chromium), pages))
