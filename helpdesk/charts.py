"""Charts drawn on the server as plain SVG, embedded in the page.

No chart library: the maintained ones (pygal, for one) put a <style> element and, by default,
a <script> fetched from a CDN into their SVG, which a strict Content-Security-Policy refuses.
These charts use presentation attributes and CSS classes of app.css only, escape every label, and
hold no script, no style and no external reference, so the markup is safe to embed inline.
"""
from __future__ import annotations

from typing import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 720
ROW_HEIGHT = 22
PLOT_HEIGHT = 180
MARGIN_LEFT = 56
MARGIN_BOTTOM = 36
SERIES_CLASSES = ("chart-s1", "chart-s2", "chart-s3")


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _nice_max(value: float) -> float:
    """A round top for the axis (1, 2, 2.5, 5 x 10^n) at or above value."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.1
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _svg(height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def hbar_chart(title: str, items: Sequence[tuple[str, float]], fmt: Callable[[float], str] = _num) -> Markup:
    """Horizontal bars, one per (label, value): for counts by category, asset, referent..."""
    top = _nice_max(max((v for _, v in items), default=0))
    label_width, bar_space = 240, WIDTH - 240 - 70
    body = []
    for i, (label, value) in enumerate(items):
        y = i * ROW_HEIGHT + 4
        width = bar_space * (value / top) if top else 0
        short = label if len(label) <= 34 else label[:33] + "…"
        body.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end" class="chart-label">{escape(short)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{width:.1f}" height="{ROW_HEIGHT - 6}" class="chart-s1"/>'
            f'<text x="{label_width + width + 4:.1f}" y="{y + 14}" class="chart-value">{escape(fmt(value))}</text>'
        )
    return _svg(max(1, len(items)) * ROW_HEIGHT + 8, title, body)


def _axes(labels: Sequence[str], top: float, fmt: Callable[[float], str]) -> tuple[list[str], float]:
    """Grid lines, y ticks and x labels; returns the parts and the width of one slot."""
    slot = (WIDTH - MARGIN_LEFT - 10) / max(1, len(labels))
    parts = []
    for k in range(5):
        value = top * k / 4
        y = PLOT_HEIGHT - PLOT_HEIGHT * k / 4 + 8
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" class="chart-grid"/>'
                     f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart-label">'
                     f'{escape(fmt(value))}</text>')
    every = max(1, len(labels) // 12)  # at most about 12 labels under the axis
    for i, label in enumerate(labels):
        if i % every == 0:
            x = MARGIN_LEFT + slot * (i + 0.5)
            parts.append(f'<text x="{x:.1f}" y="{PLOT_HEIGHT + 26}" text-anchor="middle" class="chart-label">'
                         f'{escape(label)}</text>')
    return parts, slot


def _y(value: float, top: float) -> float:
    return PLOT_HEIGHT - PLOT_HEIGHT * (value / top) + 8


def column_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
                 fmt: Callable[[float], str] = _num) -> Markup:
    """Grouped columns: one group per label, one column per series (name, values); None draws nothing."""
    top = _nice_max(max((v for _, values in series for v in values if v is not None), default=0))
    body, slot = _axes(labels, top, fmt)
    width = slot * 0.8 / max(1, len(series))
    for s, (name, values) in enumerate(series):
        css = SERIES_CLASSES[s % len(SERIES_CLASSES)]
        for i, value in enumerate(values):
            if value is None:
                continue
            x = MARGIN_LEFT + slot * (i + 0.1) + width * s
            y = _y(value, top)
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{PLOT_HEIGHT + 8 - y:.1f}" '
                        f'class="{css}"><title>{escape(name)} {escape(labels[i])}: {escape(fmt(value))}</title></rect>')
    body.append(_legend(series))
    return _svg(PLOT_HEIGHT + MARGIN_BOTTOM + 22, title, body)


def line_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
               fmt: Callable[[float], str] = _num) -> Markup:
    """One line per series (name, values) over the labels; a None breaks the line."""
    top = _nice_max(max((v for _, values in series for v in values if v is not None), default=0))
    body, slot = _axes(labels, top, fmt)
    for s, (name, values) in enumerate(series):
        css = SERIES_CLASSES[s % len(SERIES_CLASSES)]
        points = [(MARGIN_LEFT + slot * (i + 0.5), _y(v, top)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" class="chart-line {css}-line"/>')
        for (x, y), (i, v) in zip(points, [(i, v) for i, v in enumerate(values) if v is not None]):
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="{css}"><title>{escape(name)} '
                        f'{escape(labels[i])}: {escape(fmt(v))}</title></circle>')
    body.append(_legend(series))
    return _svg(PLOT_HEIGHT + MARGIN_BOTTOM + 22, title, body)


def _legend(series: Sequence[tuple[str, Sequence]]) -> str:
    parts, x = [], MARGIN_LEFT
    y = PLOT_HEIGHT + MARGIN_BOTTOM + 10
    for s, (name, _) in enumerate(series):
        css = SERIES_CLASSES[s % len(SERIES_CLASSES)]
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" class="{css}"/>'
                     f'<text x="{x + 14}" y="{y}" class="chart-label">{escape(name)}</text>')
        x += 24 + 8 * len(name)
    return "".join(parts)
