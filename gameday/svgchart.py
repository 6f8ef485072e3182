"""One time axis per experiment, drawn as inline SVG (no library, nothing external).

``timeline`` stacks panels that share the x axis (Unix seconds): every fault window
is shaded across all of them and labelled on top, every probe result is a green or
red dot on the bottom row (its name in the tooltip), a judged bound is a dashed line
over the seconds it judged. It returns the SVG and the data a few lines of script
(``HOVER_SCRIPT``) read to show every series' value under the pointer (a panel's series
share one list of times, in seconds from the chart's start, and values are rounded: it
keeps the page small). Series longer
than ``MAX_POINTS`` keep each bucket's maximum, so a spike is never smoothed away.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

__all__ = ["HOVER_SCRIPT", "MAX_POINTS", "data_script", "timeline"]

MAX_POINTS = 450  # 2 px each across the plot: finer than a person reads, and a small page
WIDTH, LEFT, RIGHT = 980, 64, 12
PANEL_H, TITLE_H, LABEL_H, MARKS_H, AXIS_H = 84, 18, 15, 22, 26
PALETTE = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e"]
FIXED = {"answered/s": "#2e7d32", "P50": "#90caf9", "P99": "#1565c0"}


def timeline(
    chart_id: str,
    span: tuple[float, float],
    panels: list[dict[str, Any]],
    faults: list[dict[str, Any]],
    marks: list[dict[str, Any]],
) -> tuple[str, dict[str, Any]]:
    """The SVG of one experiment and its hover data (see the module)."""
    t0, t1 = span[0], max(span[1], span[0] + 1)
    rows = _label_rows(faults, t0, t1)
    top = LABEL_H * (max(rows, default=-1) + 1) + 4
    height = top + len(panels) * (PANEL_H + TITLE_H) + MARKS_H + AXIS_H
    x = _scale(t0, t1)
    body = [_faults(faults, rows, x, top, height - AXIS_H)]
    data = {
        "id": chart_id,
        "t0": t0,
        "t1": t1,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "faults": [[f["start"], f["end"], f["label"]] for f in faults],
        "panels": [],
    }
    y0 = top
    for panel in panels:
        svg, panel_data = _panel(panel, x, y0, t0)
        body.append(svg)
        data["panels"].append(panel_data)
        y0 += PANEL_H + TITLE_H
    body.append(_marks(marks, x, y0 + MARKS_H / 2))
    body.append(_axis(t0, t1, x, y0 + MARKS_H))
    svg = (
        f'<svg class="timeline" id="{chart_id}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + f'<line class="cursor" x1="0" x2="0" y1="{top}" y2="{height - AXIS_H}" '
        'stroke="#000" stroke-width="0.5" visibility="hidden"/></svg>'
    )
    return svg, data


def _scale(t0: float, t1: float):
    return lambda t: round(LEFT + (t - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT), 1)


def _label_rows(faults: list[dict[str, Any]], t0: float, t1: float) -> list[int]:
    """A row per label so that overlapping labels do not cover each other."""
    ends: list[float] = []
    rows = []
    for fault in faults:
        width = (len(fault["label"]) * 6.5 + 8) / (WIDTH - LEFT - RIGHT) * (t1 - t0)
        row = next((i for i, end in enumerate(ends) if end < fault["start"]), len(ends))
        if row == len(ends):
            ends.append(0)
        ends[row] = fault["start"] + width
        rows.append(row)
    return rows


def _faults(faults: list[dict[str, Any]], rows: list[int], x, top: float, bottom: float) -> str:
    parts = []
    for fault, row in zip(faults, rows, strict=True):
        left, right = x(fault["start"]), max(x(fault["end"]), x(fault["start"]) + 1)
        title = html.escape(fault["title"])
        parts.append(
            f'<g class="fault"><title>{title}</title>'
            f'<rect x="{left}" y="{top}" width="{round(right - left, 1)}" '
            f'height="{round(bottom - top, 1)}" fill="#ff9800" fill-opacity="0.16" '
            f'stroke="#ef6c00" stroke-opacity="0.5"/>'
            f'<text x="{left + 2}" y="{LABEL_H * (row + 1) - 3}" font-size="11" '
            f'fill="#bf360c">{html.escape(fault["label"])}</text></g>'
        )
    return "".join(parts)


def _panel(panel: dict[str, Any], x, y0: float, t0: float) -> tuple[str, dict[str, Any]]:
    """One panel's SVG, and its hover data (seconds from ``t0``, values rounded)."""
    series = {name: _thin(times, values) for name, (times, values) in panel["series"].items()}
    bounds = panel.get("bounds", [])
    peak = max((v for _, values in series.values() for v in values if v is not None), default=0)
    # a bound far above the data would flatten it: such a bound is drawn on the top edge
    top = _nice(max([peak] + [b["value"] for b in bounds if b["value"] <= 4 * peak]))
    base = y0 + TITLE_H + PANEL_H

    def y(value: float) -> float:
        return round(base - min(value, top) / top * (PANEL_H - 4), 1)

    parts = [
        f'<text x="{LEFT}" y="{y0 + 13}" font-size="12" font-weight="bold">'
        f"{html.escape(panel['title'])}</text>",
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#999"/>',
        f'<text x="{LEFT - 4}" y="{y(top) + 4}" font-size="10" text-anchor="end">{_fmt(top)}</text>',
        f'<text x="{LEFT - 4}" y="{base}" font-size="10" text-anchor="end">0</text>',
    ]
    legend_x = LEFT + 8 + round(len(panel["title"]) * 7.8)  # bold 12 px: ~7.8 px a character
    for index, (name, (times, values)) in enumerate(series.items()):
        color = FIXED.get(name) or (
            "#c62828" if name.startswith("failed") else PALETTE[index % len(PALETTE)]
        )
        parts.append(_path(times, values, x, y, color))
        parts.append(
            f'<text x="{legend_x}" y="{y0 + 13}" font-size="10" fill="{color}">'
            f"&#9644; {html.escape(name)}</text>"
        )
        legend_x += 24 + len(name) * 6
    for bound in bounds:
        parts.append(
            f'<g><title>{html.escape(bound["title"])}</title><line x1="{x(bound["start"])}" '
            f'x2="{x(bound["end"])}" y1="{y(bound["value"])}" y2="{y(bound["value"])}" '
            'stroke="#b71c1c" stroke-dasharray="4 3" stroke-width="1.5"/></g>'
        )
    shared = {tuple(times) for times, _ in series.values()}
    if len(shared) > 1:
        raise ValueError(f"the series of panel {panel['title']!r} do not share their times")
    data = {
        "title": panel["title"],
        "t": [round(t - t0, 1) for t in next(iter(shared), ())],
        "series": {name: [_short(v) for v in values] for name, (_, values) in series.items()},
    }
    return "".join(parts), data


def _path(times: list[float], values: list[float | None], x, y, color: str) -> str:
    commands, pen_down = [], False
    for t, value in zip(times, values, strict=True):
        if value is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{x(t)} {y(value)}")
        pen_down = True
    if not commands:
        return ""
    return f'<path d="{"".join(commands)}" fill="none" stroke="{color}" stroke-width="1.3"/>'


def _marks(marks: list[dict[str, Any]], x, row_y: float) -> str:
    parts = [f'<text x="{LEFT - 4}" y="{row_y + 4}" font-size="10" text-anchor="end">probes</text>']
    colors = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}
    for mark in marks:
        parts.append(
            f'<circle class="probe" cx="{x(mark["t"])}" cy="{row_y}" r="5" '
            f'fill="{colors[mark["ok"]]}"><title>{html.escape(mark["title"])}</title></circle>'
        )
    return "".join(parts)


def _axis(t0: float, t1: float, x, y0: float) -> str:
    step = _nice((t1 - t0) / 8)
    parts = [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y0}" y2="{y0}" stroke="#666"/>']
    tick = 0.0
    while tick <= t1 - t0:
        parts.append(
            f'<text x="{x(t0 + tick)}" y="{y0 + 14}" font-size="10" text-anchor="middle">'
            f"{_fmt(tick)} s</text>"
        )
        tick += step
    return "".join(parts)


def _short(value: float | None) -> float | None:
    return None if value is None else round(value, 2 if abs(value) < 10 else 1)


def _thin(times: list[float], values: list[float | None]) -> tuple[list[float], list]:
    if len(times) <= MAX_POINTS:
        return list(times), list(values)
    size = math.ceil(len(times) / MAX_POINTS)
    thinned_t, thinned_v = [], []
    for start in range(0, len(times), size):
        chunk = [v for v in values[start : start + size] if v is not None]
        thinned_t.append(times[start])
        thinned_v.append(max(chunk) if chunk else None)
    return thinned_t, thinned_v


def _nice(value: float) -> float:
    """The next of 1, 2, 5 x 10^n at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


HOVER_SCRIPT = """
document.querySelectorAll('script.chart-data').forEach(function (node) {
  var d = JSON.parse(node.textContent), svg = document.getElementById(d.id);
  var tip = document.getElementById('tip'), cursor = svg.querySelector('.cursor');
  function nearest(ts, t) { var b = 0; for (var i = 1; i < ts.length; i++)
    if (Math.abs(ts[i] - t) < Math.abs(ts[b] - t)) b = i; return b; }
  svg.addEventListener('mousemove', function (ev) {
    var box = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal;
    var vx = (ev.clientX - box.left) * vb.width / box.width;
    if (vx < d.left || vx > d.right) { tip.style.display = 'none'; return; }
    var t = d.t0 + (vx - d.left) / (d.right - d.left) * (d.t1 - d.t0);
    var lines = ['<b>+' + Math.round(t - d.t0) + ' s</b> ' + new Date(t * 1000).toISOString().slice(11, 19) + 'Z'];
    d.faults.forEach(function (f) { if (t >= f[0] && t <= f[1]) lines.push('<i>' + f[2] + '</i>'); });
    d.panels.forEach(function (p) { Object.keys(p.series).forEach(function (k) {
      var v = p.series[k]; if (!p.t.length) return; var i = nearest(p.t, t - d.t0);
      if (Math.abs(p.t[i] + d.t0 - t) <= 10 && v[i] !== null) lines.push(k + ': ' + (+v[i].toFixed(2)));
    }); });
    cursor.setAttribute('x1', vx); cursor.setAttribute('x2', vx); cursor.setAttribute('visibility', 'visible');
    tip.innerHTML = lines.join('<br>'); tip.style.display = 'block';
    tip.style.left = (ev.pageX + 14) + 'px'; tip.style.top = (ev.pageY + 8) + 'px';
  });
  svg.addEventListener('mouseleave', function () { tip.style.display = 'none';
    cursor.setAttribute('visibility', 'hidden'); });
});
"""


def data_script(data: dict[str, Any]) -> str:
    """The hover data of one chart, as a JSON script element the page's script reads."""
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" class="chart-data">{text}</script>'
