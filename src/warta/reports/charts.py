"""Small SVG charts with no dependencies: horizontal bars, stacked bars and a cumulative timeline.

Each function returns a standalone SVG document (it also works inline in HTML): a root with the SVG
namespace, ``role="img"``, an ``aria-label`` that states the numbers, and a ``<title>``. Every piece of
text is XML-escaped; characters XML cannot carry are dropped. Styling is by presentation attributes
only, so a chart looks the same served alone or inlined in a page.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

SVG_NS = "http://www.w3.org/2000/svg"
FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', sans-serif"
INK = "#1b1f24"
MUTED = "#5b6470"
RULE = "#d9dde3"
ACCENT = "#0b5cad"
ACCENT_FILL = "#dce9f7"
STATE_COLOURS = {
    "delivered": "#2e7d32",
    "failed": "#c62828",
    "retrying": "#b26a00",
    "pending": "#607d8b",
    "sending": "#1565c0",
    "committing": "#6a1b9a",
    "cancelled": "#8d6e63",
}
_FALLBACK_COLOURS = ("#0b5cad", "#2e7d32", "#b26a00", "#6a1b9a", "#c62828", "#00838f", "#8d6e63")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
TITLE_SIZE = 15
TEXT_SIZE = 13
LABEL_CHARS = 28


def esc(text: object) -> str:
    """Text made safe for XML content and attribute values."""
    return escape(_NOT_XML.sub("", str(text)), quote=True)


def text_width(text: str, size: float = TEXT_SIZE) -> float:
    """A rough rendered width: wide (CJK) characters a full em, others a little over half."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.62 for ch in text)


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:.1f}"


def _count(n: int) -> str:
    return f"{n:,}"


def _svg(width: int, height: int, title: str, label: str, body: Iterable[str]) -> str:
    return "".join(
        [
            f'<svg xmlns="{SVG_NS}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{esc(label)}" font-family="{esc(FONT)}" font-size="{TEXT_SIZE}">',
            f"<title>{esc(title)}</title>",
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
            f'<text x="12" y="24" font-size="{TITLE_SIZE}" font-weight="700" fill="{INK}">{esc(title)}</text>',
            *body,
            "</svg>",
        ]
    )


def _summary(title: str, data: Sequence[tuple[str, int]], limit: int = 20) -> str:
    if not data:
        return f"{title}: no data"
    parts = [f"{shorten(k, 60)} {v}" for k, v in data[:limit]]
    more = f", and {len(data) - limit} more" if len(data) > limit else ""
    return f"{title}: " + ", ".join(parts) + more


def _empty(width: int, title: str, message: str) -> str:
    body = [f'<text x="12" y="60" fill="{MUTED}">{esc(message)}</text>']
    return _svg(width, 84, title, f"{title}: {message}", body)


def bar_chart(
    title: str,
    data: list[tuple[str, int]],
    *,
    width: int = 560,
    colour: str = ACCENT,
    bar_height: int = 22,
    gap: int = 8,
    empty: str = "No data yet",
) -> str:
    """Horizontal bars, one per (label, value), in the order given; labels left, values at the bar's end."""
    if not data:
        return _empty(width, title, empty)
    labels = [shorten(k) for k, _ in data]
    biggest = max((v for _, v in data), default=0)
    label_col = int(min(width * 0.4, max(text_width(t) for t in labels) + 20))
    value_col = int(max(text_width(_count(v)) for _, v in data) + 16)
    span = max(40, width - label_col - value_col - 12)
    top = 40
    height = top + len(data) * (bar_height + gap) + 12
    body = [f'<line x1="{label_col}" y1="{top - 4}" x2="{label_col}" y2="{height - 12}" stroke="{RULE}"/>']
    for i, ((key, value), label) in enumerate(zip(data, labels, strict=True)):
        y = top + i * (bar_height + gap)
        mid = y + bar_height / 2 + TEXT_SIZE * 0.35
        length = 0.0 if biggest <= 0 else span * max(0, value) / biggest
        if value > 0:
            length = max(length, 2.0)
        body.append(
            f'<text x="{label_col - 8}" y="{mid:.1f}" text-anchor="end" fill="{INK}">{esc(label)}</text>'
            f'<rect x="{label_col}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{colour}">'
            f"<title>{esc(key)}: {_count(value)}</title></rect>"
            f'<text x="{label_col + length + 6:.1f}" y="{mid:.1f}" fill="{INK}">{_count(value)}</text>'
        )
    return _svg(width, height, title, _summary(title, data), body)


def stacked_bars(
    title: str,
    rows: Sequence[tuple[str, Mapping[str, int]]],
    *,
    series: Sequence[str] | None = None,
    colours: Mapping[str, str] | None = None,
    width: int = 560,
    bar_height: int = 22,
    gap: int = 8,
    empty: str = "No data yet",
) -> str:
    """One horizontal bar per row, split into series (e.g. channel x state), with a legend and totals."""
    if not rows:
        return _empty(width, title, empty)
    order = list(series) if series is not None else sorted({k for _, parts in rows for k in parts})
    shown = [s for s in order if any(parts.get(s, 0) for _, parts in rows)]
    palette = dict(colours or {})
    for i, name in enumerate(s for s in shown if s not in palette):
        palette[name] = _FALLBACK_COLOURS[i % len(_FALLBACK_COLOURS)]
    totals = [sum(max(0, parts.get(s, 0)) for s in order) for _, parts in rows]
    biggest = max(totals, default=0)
    labels = [shorten(k) for k, _ in rows]
    label_col = int(min(width * 0.4, max(text_width(t) for t in labels) + 20))
    value_col = int(max(text_width(_count(t)) for t in totals) + 16)
    span = max(40, width - label_col - value_col - 12)

    body: list[str] = []
    x, y = 12.0, 44.0
    for name in shown:
        item = text_width(name) + 30
        if x + item > width - 12 and x > 12:
            x, y = 12.0, y + 20
        body.append(
            f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{palette[name]}"/>'
            f'<text x="{x + 17:.1f}" y="{y:.1f}" fill="{INK}">{esc(name)}</text>'
        )
        x += item
    top = int(y + 16)
    height = top + len(rows) * (bar_height + gap) + 12
    body.append(
        f'<line x1="{label_col}" y1="{top - 4}" x2="{label_col}" y2="{height - 12}" stroke="{RULE}"/>'
    )
    for i, ((key, parts), label, total) in enumerate(zip(rows, labels, totals, strict=True)):
        y0 = top + i * (bar_height + gap)
        mid = y0 + bar_height / 2 + TEXT_SIZE * 0.35
        body.append(
            f'<text x="{label_col - 8}" y="{mid:.1f}" text-anchor="end" fill="{INK}">{esc(label)}</text>'
        )
        at = float(label_col)
        for name in shown:
            value = max(0, parts.get(name, 0))
            if not value or biggest <= 0:
                continue
            length = max(1.5, span * value / biggest)
            body.append(
                f'<rect x="{at:.1f}" y="{y0}" width="{length:.1f}" height="{bar_height}" '
                f'fill="{palette[name]}"><title>{esc(key)}, {esc(name)}: {_count(value)}</title></rect>'
            )
            at += length
        body.append(f'<text x="{at + 6:.1f}" y="{mid:.1f}" fill="{INK}">{_count(total)}</text>')
    label = "; ".join(
        f"{shorten(key, 60)}: "
        + ", ".join(f"{name} {parts.get(name, 0)}" for name in shown if parts.get(name, 0))
        + f" (total {total})"
        for (key, parts), total in zip(rows[:20], totals, strict=False)
    )
    return _svg(width, height, title, f"{title}. {label}", body)


def nice_step(span: float, count: int = 5, minimum: float = 1.0) -> float:
    """A 1-2-5 step that cuts span into about count intervals; never below minimum."""
    if span <= 0:
        return minimum
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * magnitude >= raw:
            return max(minimum, m * magnitude)
    return max(minimum, 10 * magnitude)


def duration(seconds: float) -> str:
    """Compact elapsed time for axis labels: 0.25s, 45s, 2m30s, 1h5m."""
    if seconds < 10 and not float(seconds).is_integer():
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + "s"
    s = int(round(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        m, r = divmod(s, 60)
        return f"{m}m{r}s" if r else f"{m}m"
    h, r = divmod(s, 3600)
    return f"{h}h{r // 60}m" if r // 60 else f"{h}h"


def _time_step(span: float) -> float:
    if span < 6:
        return nice_step(span, 5, minimum=0.01)
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200):
        if span / step <= 6:
            return float(step)
    return nice_step(span, 6)


def timeline(
    title: str,
    points: list[tuple[float, int]],
    *,
    width: int = 560,
    height: int = 260,
    x_label: str = "time since release",
    y_label: str = "delivered",
    empty: str = "No deliveries yet",
) -> str:
    """A cumulative count over elapsed seconds, drawn as a step line over a light area."""
    if not points:
        return _empty(width, title, empty)
    pts = sorted((float(t), int(n)) for t, n in points)
    left, right, top, bottom = 60, 18, 42, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = pts[-1][0] if pts[-1][0] > 0 else 1.0
    y_step = nice_step(max(n for _, n in pts) or 1)
    y_max = max(y_step, math.ceil((max(n for _, n in pts) or 1) / y_step) * y_step)

    def px(t: float) -> float:
        return left + plot_w * t / x_max

    def py(n: float) -> float:
        return top + plot_h - plot_h * n / y_max

    body: list[str] = []
    tick = 0.0
    while tick <= y_max + 1e-9:
        y = py(tick)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{RULE}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_count(int(tick))}</text>'
        )
        tick += y_step
    x_step = _time_step(x_max)
    ticks = int(x_max / x_step + 1e-6)
    for i in range(ticks + 1):
        tick = round(i * x_step, 3)
        x = px(tick)
        body.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{top + plot_h + 17}" text-anchor="middle" fill="{MUTED}">'
            f"{duration(tick)}</text>"
        )
    path = [f"M{px(0):.1f},{py(0):.1f}"]
    last_n = 0
    for t, n in pts:
        path.append(f"H{px(t):.1f}")
        if n != last_n:
            path.append(f"V{py(n):.1f}")
            last_n = n
    path.append(f"H{px(x_max):.1f}")
    line = "".join(path)
    area = f"{line}V{py(0):.1f}Z"
    body.append(f'<path d="{area}" fill="{ACCENT_FILL}" stroke="none"/>')
    body.append(f'<path d="{line}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    body.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{MUTED}"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{MUTED}"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="{MUTED}">'
        f"{esc(x_label)}</text>"
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'fill="{MUTED}">{esc(y_label)}</text>'
    )
    final = pts[-1][1]
    half = next((t for t, n in pts if n * 2 >= final), pts[-1][0])
    label = (
        f"{title}: {_count(final)} {y_label} within {duration(pts[-1][0])}; "
        f"half of them within {duration(half)}"
    )
    return _svg(width, height, title, label, body)


# --- the report's charts --------------------------------------------------------------------

CHARTS = ("channels", "countries", "languages", "kinds", "timeline")


def _groups(report: Mapping[str, Any], key: str) -> list[tuple[str, int]]:
    return [(str(g["key"]), int(g["recipients"])) for g in report.get(key, [])]


def report_chart(report: Mapping[str, Any], name: str) -> str | None:
    """One of the named charts (see CHARTS) for a release_report(); None for an unknown name."""
    if name == "channels":
        rows = [(str(c["channel"]), dict(c["states"])) for c in report.get("channels", [])]
        return stacked_bars(
            "Deliveries by channel and state",
            rows,
            series=list(STATE_COLOURS),
            colours=STATE_COLOURS,
        )
    if name == "countries":
        return bar_chart("Recipients by country", _groups(report, "countries"))
    if name == "languages":
        return bar_chart("Recipients by edition language", _groups(report, "languages"), colour="#00695c")
    if name == "kinds":
        return bar_chart("Recipients by kind", _groups(report, "recipient_kinds"), colour="#6a1b9a")
    if name == "timeline":
        points = [(float(t), int(n)) for t, n in report.get("timeline", {}).get("points", [])]
        return timeline("Deliveries over time (cumulative)", points)
    return None
