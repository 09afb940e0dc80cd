"""The review's report.html: one self-contained, printable, accessible page.

Rendered from ``templates/review.html.j2`` with Jinja2 (autoescaped). Nothing is fetched when
the page is opened: the CSS is inline, there are no scripts or web fonts, and the 30-day chart
is an inline SVG drawn here (with the same numbers as a table for screen readers and print).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from correspondence_guard.private_files import write_private

CHART_W, CHART_H = 760, 240
PAD_L, PAD_R, PAD_T, PAD_B = 40, 10, 14, 46


def _env() -> Environment:
    env = Environment(loader=PackageLoader("correspondence_guard.report", "templates"), autoescape=True)
    env.filters["day"] = lambda v: dt.date.fromisoformat(v[:10]).strftime("%A %-d %B %Y") if v else ""
    env.filters["shortday"] = lambda v: dt.date.fromisoformat(v[:10]).strftime("%a %-d %b") if v else ""
    env.filters["when"] = lambda v: f"{v[:10]} {v[11:16]}" if v else ""
    env.filters["label"] = lambda v: str(v).replace("-", " ").replace("_", " ")
    return env


def _ticks(top: int) -> list[int]:
    if top <= 5:
        return list(range(top + 1))
    step = (
        next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000) if top / s <= 5)
        if top <= 5000
        else top // 5
    )
    return list(range(0, top + step, step))


def chart_svg(per_day: list[dict[str, Any]]) -> Markup:
    """Bars of findings per day, an accessible inline SVG (role=img, title and description)."""
    counts = [int(d["findings"]) for d in per_day]
    ticks = _ticks(max(counts, default=0))
    top = max(ticks[-1], 1)
    inner_w, inner_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    slot = inner_w / max(len(counts), 1)
    total = sum(counts)
    first, last = (per_day[0]["date"], per_day[-1]["date"]) if per_day else ("", "")
    busiest = max(per_day, key=lambda d: d["findings"]) if total else None
    desc = f"{total} findings from {first} to {last}" + (
        f"; the most, {busiest['findings']}, on {busiest['date']}." if busiest else "."
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_W} {CHART_H}" width="100%" '
        f'role="img" aria-labelledby="chart-title chart-desc" class="chart">',
        '<title id="chart-title">Findings per day, last 30 days</title>',
        f'<desc id="chart-desc">{escape(desc)}</desc>',
    ]
    for t in ticks:
        y = PAD_T + inner_h - inner_h * t / top
        parts.append(f'<line x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{t}</text>')
    for i, (day, n) in enumerate(zip(per_day, counts, strict=True)):
        x = PAD_L + i * slot + slot * 0.15
        h = inner_h * n / top
        parts.append(
            f'<rect x="{x:.1f}" y="{PAD_T + inner_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{escape(day["date"])}: {n}</title></rect>'
        )
        if i % 5 == (len(counts) - 1) % 5:  # label every fifth day, ending on the last
            d = dt.date.fromisoformat(day["date"])
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{CHART_H - PAD_B + 16}" text-anchor="middle">'
                f"{d.day} {d.strftime('%b')}</text>"
            )
    parts.append(
        f'<line x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{PAD_T + inner_h}" y2="{PAD_T + inner_h}" class="axis"/>'
    )
    parts.append(
        f'<text x="{PAD_L + inner_w / 2:.0f}" y="{CHART_H - 8}" text-anchor="middle">Date (the message was sent)</text>'
    )
    parts.append("</svg>")
    return Markup("\n".join(parts))  # noqa: S704 (every value inserted above is a number or escaped)


def render_html(data: dict[str, Any]) -> str:
    template = _env().get_template("review.html.j2")
    return template.render(d=data, chart=chart_svg(data["per_day"]))


def write_html(data: dict[str, Any], path: Path) -> None:
    write_private(path, render_html(data))
