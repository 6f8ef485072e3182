"""The soak's picture: every leak figure and the load over the whole soak, with its trend.

One panel per figure of ``gameday.soak.SERIES``: the samples, the least-squares line
the verdict is judged on, and an axis at least as tall as the allowance (a breached
figure's title is red); then the load's P99 and requests/s per sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def draw(
    samples: list[dict[str, Any]], judged: dict[str, Any], series: dict[str, str], picture: Path
) -> Path | None:
    """Write the picture of a judged soak to ``picture``; None when there is nothing to draw."""
    if len(samples) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = samples[0]["t"]
    span_s = samples[-1]["t"] - start
    unit, per = ("h", 3600.0) if span_s > 2 * 3600 else ("min", 60.0)
    breached = {key for key, name in series.items() if _breached(name, judged["breaches"])}
    panels = [*series.items(), ("load_p99_ms", "load P99 (ms)"), ("load_rps", "load requests/s")]
    fig, axes = plt.subplots((len(panels) + 1) // 2, 2, sharex=True, figsize=(11, 10))
    for axis, (key, title) in zip(axes.flat, panels, strict=False):
        points = [(s["t"], v) for s in samples if (v := _value(s, key)) is not None]
        scale = MIB if key.endswith("_bytes") else 1.0
        title += " (MiB)" if scale == MIB else ""
        xs = [(t - start) / per for t, _ in points]
        ys = [v / scale for _, v in points]
        axis.plot(xs, ys, color="tab:blue", linewidth=1)
        figure = judged["figures"].get(key)
        allowed = judged.get("allowances", {}).get(key)
        if figure and len(points) > 1:
            slope_per_unit = figure["slope_per_h"] / 3600 * per / scale
            mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
            ends = [xs[0], xs[-1]]
            trend = [mean_y + slope_per_unit * (x - mean_x) for x in ends]
            axis.plot(ends, trend, color="tab:gray", linestyle="--", linewidth=1)
            if allowed is not None:
                digits = 1 if scale == MIB else 0
                growth, limit = figure["fitted_growth"] / scale, allowed / scale
                title += f": {growth:+.{digits}f} of {limit:.{digits}f} allowed"
        if ys:
            _at_least(axis, min(ys), max(ys), allowed / scale if allowed else None)
        axis.set_title(
            title,
            color="tab:red" if key in breached else "black",
            fontsize=10,
        )
    for axis in axes.flat[len(panels) :]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel(f"{unit} since the first sample")
    verdict = "LEAKS" if judged["breaches"] else "no leak found"
    fig.suptitle(f"Soak, {judged['samples']} samples over {span_s / per:.1f} {unit}: {verdict}")
    fig.tight_layout()
    fig.savefig(picture, dpi=80)
    plt.close(fig)
    return picture


def _at_least(axis: Any, low: float, high: float, span: float | None) -> None:
    """Show at least ``span`` (the allowance; else a tenth of the level) of the y axis, so
    that noise far below what would be a leak looks flat."""
    span = span or max(abs(high) * 0.1, 1.0)
    if high - low < span:
        bottom = (high + low) / 2 - span / 2
        bottom = max(bottom, 0.0) if low >= 0 else bottom  # counts and bytes are never negative
        axis.set_ylim(bottom, bottom + span)


def _value(sample: dict[str, Any], key: str) -> float | None:
    if key.startswith("load_"):
        load = sample.get("load")
        value = load.get(key.removeprefix("load_")) if isinstance(load, dict) else None
    else:
        value = sample.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _breached(name: str, breaches: list[str]) -> bool:
    return any(breach.startswith(name) for breach in breaches)
