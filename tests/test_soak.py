"""gameday.soak: leak figures, checkpoints, the report, and an interrupted soak's evidence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gameday import soak
from tests.chaosrun import REPO
from tests.test_experiments import CHAOS, QUICK

LIMITS = {
    "max_rss_slope_mb_per_h": 16,
    "rss_noise_mb": 16,
    "max_connection_growth": 5,
    "max_series_growth": 1000,
}
MIB = 1024 * 1024


def _samples(hours: float, api_growth_mib: float, connections_growth: int = 0) -> list[dict]:
    span = hours * 3600
    return [
        {
            "t": 1000 + span * i / 10,
            "api_rss_bytes": int((80 + api_growth_mib * i / 10) * MIB),
            "aggregator_rss_bytes": 50 * MIB,
            "postgres_connections": 10 + connections_growth * i // 10,
            "orders_total_bytes": 8192 * (100 + i),
            "prometheus_head_series": 2300,
            "orders_created_series": 12,
        }
        for i in range(11)
    ]


def test_a_steady_soak_has_no_breach():
    judged = soak.judge(_samples(2, api_growth_mib=10), LIMITS)
    assert judged["breaches"] == []
    assert judged["figures"]["api_rss_bytes"]["fitted_growth"] == pytest.approx(10 * MIB, rel=0.01)
    assert judged["figures"]["orders_total_bytes"]["slope_per_h"] == pytest.approx(
        8192 * 10 / 2, rel=0.01
    )


def test_memory_and_connection_leaks_are_named():
    judged = soak.judge(_samples(2, api_growth_mib=80, connections_growth=20), LIMITS)
    assert any(
        b.startswith("API resident memory grew by 80.0 MiB (allowed 48.0 MiB")
        for b in judged["breaches"]
    ), judged["breaches"]
    assert any("PostgreSQL client connections grew by 20" in b for b in judged["breaches"])


def test_the_allowance_grows_with_the_soak_but_not_the_noise_floor():
    assert soak.judge(_samples(4, api_growth_mib=70), LIMITS)["breaches"] == []
    short = soak.judge(_samples(0.01, api_growth_mib=20), LIMITS)
    assert "API resident memory grew by 20.0 MiB" in short["breaches"][0]


def test_a_figure_never_measured_is_a_breach():
    samples = [
        {k: v for k, v in s.items() if k != "prometheus_head_series"} for s in _samples(1, 0)
    ]
    assert "Prometheus head series was never measured" in soak.judge(samples, LIMITS)["breaches"]


def test_read_samples_skips_a_torn_line_and_says_when_there_are_none(tmp_path):
    with pytest.raises(soak.SoakError, match="no soak samples"):
        soak.read_samples(tmp_path)
    (tmp_path / "soak").mkdir()
    lines = [json.dumps(s) for s in _samples(1, 0)[:3]]
    (tmp_path / "soak" / "samples.jsonl").write_text("\n".join(lines) + '\n{"t": 17, "api_rs')
    assert len(soak.read_samples(tmp_path)) == 3


def test_watch_refuses_a_bad_plan(tmp_path):
    with pytest.raises(soak.SoakError, match="sample_s <= checkpoint_s <= duration_s"):
        soak.watch(dict, tmp_path, duration_s=10, sample_s=5, checkpoint_s=60, limits=LIMITS)


WATCHER = """
import itertools, sys
from gameday import soak
tick = itertools.count()
def sample():
    i = next(tick)
    return {"api_rss_bytes": 80e6 + i, "aggregator_rss_bytes": 50e6, "postgres_connections": 10,
            "prometheus_head_series": 2300, "orders_created_series": 12}
soak.watch(sample, sys.argv[1], 600, 0.1, 0.3, %r)
"""


def test_an_interrupted_watch_leaves_checkpoints_and_a_report(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", WATCHER % LIMITS, str(tmp_path)],
        cwd=REPO,
    )
    checkpoint = tmp_path / "soak" / "checkpoint.json"
    deadline = time.monotonic() + 20
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert json.loads(checkpoint.read_text())["samples"] >= 3
    printed = subprocess.run(
        [sys.executable, "-m", "gameday.soak", "report", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert printed.returncode == 0, printed.stderr
    assert "no leak found" in printed.stdout and "API resident memory" in printed.stdout
    assert (tmp_path / "soak" / "report.md").exists()
    assert f"picture: {tmp_path}/soak/soak.png" in printed.stdout


def test_the_report_links_a_picture_of_every_figure_and_reads_the_load(tmp_path):
    samples = _samples(2, api_growth_mib=80)
    for i, sample in enumerate(samples):
        sample["load"] = {"count": 1300 + i, "rps": 43.3, "failures": i % 2, "p99_ms": 5.0 + i}
    (tmp_path / "soak").mkdir()
    (tmp_path / "soak" / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    judged = soak.write_report(tmp_path, LIMITS)
    assert judged["breaches"]
    assert (tmp_path / "soak" / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (tmp_path / "soak" / "report.md").read_text()
    assert "![every figure over the soak](soak.png)" in text
    assert "Load: 14,355 requests, 5 failures, worst P99 of a sample 15 ms" in text


def test_a_single_sample_has_a_report_but_no_picture(tmp_path):
    (tmp_path / "soak").mkdir()
    (tmp_path / "soak" / "samples.jsonl").write_text(json.dumps(_samples(1, 0)[0]) + "\n")
    soak.write_report(tmp_path, LIMITS)
    assert not (tmp_path / "soak" / "soak.png").exists()
    assert "soak.png" not in (tmp_path / "soak" / "report.md").read_text()


def test_report_of_a_directory_that_is_no_soak_says_so(tmp_path):
    printed = subprocess.run(
        [sys.executable, "-m", "gameday.soak", "report", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert printed.returncode == 2 and "is this a soak's run directory?" in printed.stderr


@pytest.mark.lab
@pytest.mark.e2e
def test_a_soak_stopped_midway_keeps_its_evidence(lab, tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [
            CHAOS,
            "--log-file",
            str(tmp_path / "chaostoolkit.log"),
            "run",
            "--var-file",
            str(QUICK),
            "--var",
            "soak_s:int=600",
            "--journal-path",
            str(tmp_path / "journal.json"),
            "experiments/soak.json",
        ],
        cwd=REPO,
        env={**os.environ, "COFFEE_CHAOS_RUN_DIR": str(run_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoint = run_dir / "soak" / "checkpoint.json"
    deadline = time.monotonic() + 90
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) != 0
    judged = json.loads(checkpoint.read_text())
    assert judged["samples"] >= 3 and "api_rss_bytes" in judged["figures"]
    printed = subprocess.run(
        [sys.executable, "-m", "gameday.soak", "report", str(run_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert printed.returncode == 0 and "PostgreSQL client connections" in printed.stdout
