"""The HTML report shows no Markdown marker as text: bold, emphasis, code and links become
markup, code keeps its asterisks, and arithmetic stays arithmetic. A missing Chromium skips
the PDF with a reason instead of failing the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from offload.report.browser import print_pdf
from offload.report.charts_static import BEYOND_MIN, supported_percentile
from offload.report.document import Image
from offload.report.html import inline
from offload.report.markdown import render_block


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("each request was *scheduled*", "each request was <em>scheduled</em>"),
        ("**async** wins", "<strong>async</strong> wins"),
        ("see `summary.json`", "see <code>summary.json</code>"),
        ("[the charts](charts/latency.png)", '<a href="charts/latency.png">the charts</a>'),
        ("***both***", "<strong><em>both</em></strong>"),
    ],
)
def test_every_inline_mark_becomes_markup(text, html):
    assert inline(text) == html


@pytest.mark.parametrize(
    "text",
    ["0.1 * sync.signup.p95", "a*b*c", "2 * 3 * 4", "p99 *", "5 ** 2 is 25"],
)
def test_asterisks_that_are_not_emphasis_stay_text(text):
    assert inline(text) == text


def test_code_keeps_its_asterisks_and_backticks_never_show():
    out = inline("expect `async.signup.p95 < 0.1 * sync.signup.p95` and *not* more")
    assert out == (
        "expect <code>async.signup.p95 &lt; 0.1 * sync.signup.p95</code> and <em>not</em> more"
    )


@pytest.mark.parametrize(
    ("caption", "shown"),
    [
        ("GET /users/* only", "<em>GET /users/* only</em>"),
        ("p99 *", "<em>p99 *</em>"),
        ("*dashed*: p99", "<em><em>dashed</em>: p99</em>"),
        ("a*b", "<em>a*b</em>"),
    ],
)
def test_a_markdown_caption_with_an_asterisk_stays_one_caption(caption, shown, tmp_path):
    """GitHub reads the Markdown report as CommonMark: the whole caption is in emphasis,
    its asterisks read as in any paragraph, and no marker is left over as text."""
    from markdown_it import MarkdownIt  # CommonMark, as GitHub; installed with rich

    block = Image(tmp_path / "latency.png", "latency", caption=caption)
    page = MarkdownIt("commonmark").render(render_block(block, tmp_path))
    assert f"<p>{shown}</p>" in page


def test_no_network_link_survives():
    assert inline("[x](https://example.org)") == "x"


@pytest.mark.parametrize(
    ("count", "highest"),
    [(19, None), (20, 50.0), (200, 95.0), (1000, 99.0), (10_000, 99.9)],
)
def test_the_spectrum_stops_where_ten_requests_lie_beyond(count, highest):
    assert BEYOND_MIN == 10
    assert supported_percentile(count) == (pytest.approx(highest) if highest else None)


def test_without_chromium_the_pdf_is_skipped_with_a_reason(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("OFFLOAD_CHROMIUM", "no-such-chromium-here")
    page = tmp_path / "report.html"
    page.write_text("<!DOCTYPE html><p>hello</p>")
    result = print_pdf(page)
    assert result.pdf is None
    assert "not installed" in result.reason
    assert not (tmp_path / "report.pdf").exists()
