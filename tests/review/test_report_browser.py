"""report.html in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The page must open from a file with no request other than the file itself, render (a
screenshot that is not blank), and be accessible: a language, one h1 and no skipped heading
levels, table headers with scope, captions, a labelled chart, enough contrast, a print layout.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SINCE, UNTIL  # tests/review/conftest.py
from correspondence_guard import Checker
from correspondence_guard.config import Config
from correspondence_guard.review.run import run_review
from correspondence_guard.store.db import Store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture()
def report(config: Config, checker: Checker, store: Store) -> Path:
    store.add_feedback("oswin.thackeray@ashdown.gov.uk", "tone", "not rude, just brief")
    return run_review(config, checker, store, SINCE, UNTIL).out_dir / "report.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=120_000)
        try:
            yield b
        finally:
            b.close()


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG, with the stdlib only."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i] for i in range(len(r)) if i % bpp < 3) for r in rows]


def test_report_opens_offline_renders_and_is_accessible(report: Path, browser: Any, tmp_path: Path) -> None:
    url = report.resolve().as_uri()
    context = browser.new_context(viewport={"width": 1000, "height": 760}, java_script_enabled=True)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_load_state("networkidle", timeout=60_000)

    assert requests == [url]  # nothing else: no fonts, images, scripts or styles from anywhere

    png = page.screenshot(timeout=60_000)
    (tmp_path / "report.png").write_bytes(png)
    width, height, rows = png_pixels(png)
    assert (width, height) == (1000, 760)
    pixels = [row[i : i + 3] for row in rows[::4] for i in range(0, len(row), 12)]
    colours = set(pixels)
    dark = sum(1 for p in pixels if sum(p) < 200)
    assert len(colours) > 20, "the screenshot is (nearly) one colour"
    assert 0.005 < dark / len(pixels) < 0.5, "no text (or all dark) in the screenshot"

    dom = page.evaluate("""() => {
        const levels = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
        const ths = [...document.querySelectorAll('th')];
        return {
            lang: document.documentElement.lang,
            title: document.title,
            levels,
            thWithoutScope: ths.filter(th => !th.getAttribute('scope')).length,
            tables: document.querySelectorAll('table').length,
            captions: document.querySelectorAll('table > caption').length,
            chart: document.querySelector('svg[role=img]')?.getAttribute('aria-labelledby'),
            chartTitle: document.querySelector('svg title')?.textContent,
            bars: document.querySelectorAll('svg rect.bar').length,
            h1: document.querySelector('h1').textContent,
            scripts: document.scripts.length,
        };
    }""")
    assert dom["lang"] == "en-GB" and "2 March 2026" in dom["title"]
    assert dom["levels"][0] == 1 and dom["levels"].count(1) == 1
    assert all(b - a <= 1 for a, b in zip(dom["levels"], dom["levels"][1:], strict=False)), dom["levels"]
    assert dom["thWithoutScope"] == 0 and dom["tables"] == dom["captions"] > 4
    assert dom["chart"] == "chart-title chart-desc" and dom["chartTitle"] and dom["bars"] == 30
    assert dom["scripts"] == 0 and dom["h1"].startswith("Correspondence review: Monday 2 March 2026")

    ratios = page.evaluate("""() => {
        const rgb = s => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
        const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92
                           : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const bg = el => { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor;
                           if (!c.endsWith(', 0)') && c !== 'transparent') return rgb(c); } return [255, 255, 255]; };
        const ratio = el => { const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
                              return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
        return [...document.querySelectorAll('p, td, th, dt, dd, a, .sev, .small, caption, h1, h2, h3, li')]
               .filter(el => el.textContent.trim()).map(el => [el.className || el.tagName, ratio(el)]);
    }""")
    assert len(ratios) > 50 and all(1 <= r <= 21 for _, r in ratios)  # computed for every text element
    low = [(name, round(r, 2)) for name, r in ratios if r < 4.5]
    assert not low, f"text below WCAG AA contrast (4.5:1): {low[:5]}"

    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
    assert len(page.pdf(format="A4", landscape=True)) > 10_000
    assert requests == [url]
    context.close()


def test_a_review_of_nothing_still_makes_a_page(tmp_path: Path, checker: Checker, browser: Any) -> None:
    from conftest import make_config

    empty = tmp_path / "empty"
    empty.mkdir()
    config = make_config(tmp_path, [{"kind": "folder", "path": empty}])
    store = Store(config.store.url)
    try:
        out = run_review(config, checker, store, SINCE, UNTIL).out_dir
    finally:
        store.close()
    page = browser.new_page()
    page.goto((out / "report.html").resolve().as_uri())
    text = page.inner_text("main")
    assert "No findings in this period." in text and "No member enquiry is overdue." in text
    page.close()
    shutil.rmtree(out)
