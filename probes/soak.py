"""The soak's expectation: no leak over hours of load (``gameday.soak`` samples and judges)."""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import NOT_AVAILABLE, unmet
from gameday import soak
from probes.load import load_stats
from probes.postgres import connections, table_size
from probes.process import process_usage
from probes.prometheus import prometheus_memory, series_count

__all__ = ["no_leaks_during_soak"]
logger = logging.getLogger("chaostoolkit")


def no_leaks_during_soak(
    duration_s: float,
    warmup_s: float = 0,
    sample_s: float = 30,
    checkpoint_s: float = 300,
    max_rss_slope_mb_per_h: float = 16,
    rss_noise_mb: float = 16,
    max_connection_growth: float = 5,
    max_series_growth: float = 1000,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Watch the soak (its ``duration_s`` less the ``warmup_s`` already spent) and expect no
    leak: RSS of the API and the aggregator, PostgreSQL connections, Prometheus series.

    Samples and checkpoints go to ``<run_dir>/soak/`` (``gameday.soak``).
    """
    limits = {
        "max_rss_slope_mb_per_h": max_rss_slope_mb_per_h,
        "rss_noise_mb": rss_noise_mb,
        "max_connection_growth": max_connection_growth,
        "max_series_growth": max_series_growth,
    }
    with engine_call("watch the soak", configuration) as target:
        run_dir = target.run_dir
        judged = soak.watch(
            lambda: _soak_sample(sample_s, configuration, secrets),
            run_dir,
            duration_s - warmup_s,
            sample_s,
            checkpoint_s,
            limits,
        )
    if judged["breaches"]:
        raise ActivityFailed(
            unmet(
                "no leak over the soak",
                "; ".join(judged["breaches"]) + f" (report: {run_dir}/soak/report.md)",
            )
        )
    if judged.get("not_judged"):
        return {**judged, NOT_AVAILABLE: "; ".join(judged["not_judged"])}
    return judged


def _soak_sample(window_s: float, configuration: Configuration, secrets: Secrets) -> dict[str, Any]:
    """One soak sample; a figure that cannot be read is left out and its error noted."""
    readers = {
        "api_rss_bytes": lambda: _rss("api", configuration, secrets),
        "aggregator_rss_bytes": lambda: _rss("aggregator", configuration, secrets),
        "postgres_connections": lambda: connections(configuration=configuration, secrets=secrets)[
            "total"
        ],
        "orders_total_bytes": lambda: table_size(configuration=configuration, secrets=secrets)[
            "total_bytes"
        ],
        "prometheus_head_series": lambda: prometheus_memory(configuration=configuration)[
            "head_series"
        ],
        "orders_created_series": lambda: series_count(configuration=configuration)["series"],
        "load": lambda: {
            k: v
            for k, v in load_stats(max(1, int(window_s)), configuration=configuration).items()
            if k in ("count", "rps", "failures", "p99_ms")
        },
    }
    sample: dict[str, Any] = {}
    errors, missing = {}, {}
    for key, read in readers.items():
        try:
            value = read()
        except ActivityFailed as exc:
            errors[key] = str(exc)[:200]
            continue
        if isinstance(value, dict) and NOT_AVAILABLE in value:
            missing[key] = value[NOT_AVAILABLE]
        else:
            sample[key] = value
    if errors:
        sample["errors"] = errors
    if missing:
        sample[NOT_AVAILABLE] = missing
    return sample


def _rss(service: str, configuration: Configuration, secrets: Secrets) -> Any:
    """The service's RSS, or the "not available" answer of a platform without processes."""
    usage = process_usage(service, configuration, secrets)
    return usage if NOT_AVAILABLE in usage else usage["rss_bytes"]
