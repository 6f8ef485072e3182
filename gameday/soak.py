"""The soak watch: samples over hours, checkpoints, leak figures and the report.

``watch`` calls a sampler every ``sample_s`` (RSS of the API and the
aggregator, PostgreSQL connections, table bytes, Prometheus series, the load's
figures), appends each sample to ``<run_dir>/soak/samples.jsonl`` (flushed and
fsync'd) and rewrites ``<run_dir>/soak/checkpoint.json`` every
``checkpoint_s``, so an interrupted soak still has its evidence. At the end it
writes ``report.json``, ``report.md`` and ``soak.png`` there (``limits.json`` keeps the
allowances, so ``report`` can judge a soak that was cut short).

A figure leaks when its least-squares growth over the soak (slope times
duration) exceeds its allowance: ``noise + slope_per_h * hours`` for memory,
a fixed count for connections and series.

    python -m gameday.soak report runs/soak-20261127T220000Z   # report of any soak, even cut short
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gameday import soakchart
from gameday.errors import GamedayError

__all__ = [
    "SERIES",
    "SoakError",
    "judge",
    "read_samples",
    "report",
    "summarise",
    "watch",
    "write_report",
]

# The figures a sample carries and what growth of each means.
SERIES = {
    "api_rss_bytes": "API resident memory",
    "aggregator_rss_bytes": "aggregator resident memory",
    "postgres_connections": "PostgreSQL client connections",
    "orders_total_bytes": "orders table and indexes",
    "prometheus_head_series": "Prometheus head series",
    "orders_created_series": "orders_created_total series",
}
MIB = 1024 * 1024
PICTURE = "soak.png"


class SoakError(GamedayError):
    """The soak is misconfigured, or its samples are missing or unreadable."""


def watch(
    sampler: Callable[[], dict[str, Any]],
    run_dir: Path,
    duration_s: float,
    sample_s: float,
    checkpoint_s: float,
    limits: dict[str, float],
) -> dict[str, Any]:
    """Sample for ``duration_s``, checkpointing as it goes; return the judged summary."""
    if not 0 < sample_s <= checkpoint_s <= max(duration_s, sample_s) or duration_s <= 0:
        raise SoakError(
            "need 0 < sample_s <= checkpoint_s <= duration_s, got sample_s "
            f"{sample_s}, checkpoint_s {checkpoint_s}, duration_s {duration_s}"
        )
    directory = Path(run_dir) / "soak"
    directory.mkdir(parents=True, exist_ok=True)
    samples_file = directory / "samples.jsonl"
    _write_json(directory / "limits.json", dict(limits))
    started = time.monotonic()
    next_checkpoint = started + checkpoint_s
    while True:
        _append(samples_file, {"t": round(time.time(), 3), **sampler()})
        now = time.monotonic()
        if now >= next_checkpoint:
            _write_json(directory / "checkpoint.json", judge(read_samples(run_dir), limits))
            next_checkpoint = now + checkpoint_s
        if now - started + sample_s > duration_s:
            break
        time.sleep(max(0.0, sample_s - (time.monotonic() - now)))
    return write_report(run_dir, limits)


def read_samples(run_dir: Path | str) -> list[dict[str, Any]]:
    """The samples of a soak, oldest first; a line cut short by a crash is skipped."""
    path = Path(run_dir) / "soak" / "samples.jsonl"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise SoakError(f"no soak samples in {path}: is this a soak's run directory?") from None
    samples = []
    for line in lines:
        try:
            sample = json.loads(line)
        except ValueError:
            continue
        if isinstance(sample, dict) and isinstance(sample.get("t"), int | float):
            samples.append(sample)
    return samples


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """First, last, least-squares slope per hour and fitted growth of every figure."""
    if not samples:
        raise SoakError("the soak has no samples yet")
    span = samples[-1]["t"] - samples[0]["t"]
    figures = {}
    for key in SERIES:
        points = [(s["t"], s[key]) for s in samples if isinstance(s.get(key), int | float)]
        if not points:
            continue
        slope = _slope(points)
        figures[key] = {
            "first": points[0][1],
            "last": points[-1][1],
            "peak": max(v for _, v in points),
            "slope_per_h": round(slope * 3600, 3),
            "fitted_growth": round(slope * (points[-1][0] - points[0][0]), 3),
            "samples": len(points),
        }
    errors = [s["errors"] for s in samples if s.get("errors")]
    return {
        "samples": len(samples),
        "duration_s": round(span, 1),
        "figures": figures,
        "load": _load_summary(samples),
        "sample_errors": errors[-5:],
        "sample_error_count": len(errors),
    }


def judge(samples: list[dict[str, Any]], limits: dict[str, float]) -> dict[str, Any]:
    """The summary with its breaches: what leaked, by how much, against which allowance."""
    summary = summarise(samples)
    hours = summary["duration_s"] / 3600
    allowances = {
        "api_rss_bytes": (limits["rss_noise_mb"] + limits["max_rss_slope_mb_per_h"] * hours) * MIB,
        "aggregator_rss_bytes": (limits["rss_noise_mb"] + limits["max_rss_slope_mb_per_h"] * hours)
        * MIB,
        "postgres_connections": limits["max_connection_growth"],
        "prometheus_head_series": limits["max_series_growth"],
        "orders_created_series": limits["max_series_growth"],
    }
    unavailable = {k: v for s in samples for k, v in s.get("not_available", {}).items()}
    breaches, not_judged = [], []
    for key, allowed in allowances.items():
        figure = summary["figures"].get(key)
        if figure is None and key in unavailable:
            not_judged.append(f"{SERIES[key]}: {unavailable[key]}")
        elif figure is None:
            breaches.append(f"{SERIES[key]} was never measured")
        elif figure["fitted_growth"] > allowed:
            breaches.append(
                f"{SERIES[key]} grew by {_human(key, figure['fitted_growth'])} "
                f"(allowed {_human(key, allowed)}; slope {_human(key, figure['slope_per_h'])}/h)"
            )
    return {
        **summary,
        "allowances": allowances,
        "breaches": breaches,
        "not_judged": not_judged,
        "limits": limits,
    }


def write_report(run_dir: Path | str, limits: dict[str, float]) -> dict[str, Any]:
    """Judge the samples of ``run_dir``; write ``report.json``, ``report.md`` and its
    picture ``soak.png``."""
    samples = read_samples(run_dir)
    judged = judge(samples, limits)
    directory = Path(run_dir) / "soak"
    _write_json(directory / "report.json", judged)
    picture = soakchart.draw(samples, judged, SERIES, directory / PICTURE)
    (directory / "report.md").write_text(report(judged, picture is not None))
    return judged


def report(judged: dict[str, Any], with_picture: bool = False) -> str:
    """A readable report of a judged soak (linking its picture ``soak.png``)."""
    verdict = "LEAKS: " + "; ".join(judged["breaches"]) if judged["breaches"] else "no leak found"
    lines = [
        "# Soak report",
        "",
        f"{judged['samples']} samples over {judged['duration_s'] / 60:.1f} min: {verdict}",
        "",
        "| figure | first | last | peak | slope per hour | fitted growth |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, figure in judged["figures"].items():
        lines.append(
            f"| {SERIES[key]} | {_human(key, figure['first'])} | {_human(key, figure['last'])} | "
            f"{_human(key, figure['peak'])} | {_human(key, figure['slope_per_h'])} | "
            f"{_human(key, figure['fitted_growth'])} |"
        )
    load = judged.get("load") or {}
    if load:
        worst = load["worst_p99_ms"]
        lines += [
            "",
            f"Load: {load['requests']:,} requests, {load['failures']:,} failures, worst P99 of "
            f"a sample {'-' if worst is None else f'{worst:g} ms'}",
        ]
    if judged.get("sample_error_count"):
        lines += [
            "",
            f"{judged['sample_error_count']} samples had errors, last: "
            f"{judged['sample_errors'][-1]}",
        ]
    if with_picture:
        lines += ["", f"![every figure over the soak]({PICTURE})"]
    return "\n".join(lines) + "\n"


def _load_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    loads = [s["load"] for s in samples if isinstance(s.get("load"), dict)]
    if not loads:
        return {}
    p99s = [x["p99_ms"] for x in loads if isinstance(x.get("p99_ms"), int | float)]
    return {
        "requests": sum(x.get("count", 0) for x in loads),
        "failures": sum(x.get("failures", 0) for x in loads),
        "worst_p99_ms": max(p99s) if p99s else None,
    }


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (units per second); 0 with fewer than two distinct times."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def _human(key: str, value: float) -> str:
    if key.endswith("_bytes"):
        return f"{value / MIB:.1f} MiB"
    return f"{value:g}"


def _append(path: Path, sample: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(sample) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _write_json(path: Path, body: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=2))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """``report RUN_DIR``: judge the samples of a soak (finished or cut short) and print it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "report":
        print("usage: python -m gameday.soak report RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[1])
    try:
        limits = json.loads((run_dir / "soak" / "limits.json").read_text())
        print(report(write_report(run_dir, limits)), end="")
        picture = run_dir / "soak" / PICTURE
        if picture.exists():
            print(f"\npicture: {picture}")
    except FileNotFoundError:
        print(
            f"soak: {run_dir}/soak/limits.json is missing: is this a soak's run directory?",
            file=sys.stderr,
        )
        return 2
    except SoakError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
