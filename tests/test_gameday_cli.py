"""The `gameday` CLI: bad input is refused before anything runs; verdicts and reports."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from target_files import free_port, write_target

from gameday import cli, publish, soak
from gameday.report import ReportInput, write_report
from gameday.score import score
from gameday.verdict import read_verdict
from tests import reportcheck

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def test_missing_experiment_is_refused_naming_it(tmp_path, capsys):
    code = cli.main(["run", "--runs-dir", str(tmp_path), "experiments/kil-redis.json"])
    assert code == 2
    assert "experiments/kil-redis.json" in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "nothing may be created for a refused session"


def test_unknown_profile_lists_the_known_ones(tmp_path, capsys):
    code = cli.main(
        ["run", "--runs-dir", str(tmp_path), "--profile", "quik", "experiments/kill-redis.json"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "quik" in err and "quick" in err


def test_malformed_var_is_refused(tmp_path, capsys):
    code = cli.main(
        ["run", "--runs-dir", str(tmp_path), "--var", "users", "experiments/kill-redis.json"]
    )
    assert code == 2
    assert "key=value" in capsys.readouterr().err


def test_invalid_json_experiment_is_refused(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code = cli.main(["run", "--runs-dir", str(tmp_path / "runs"), str(broken)])
    assert code == 2
    assert "not valid JSON" in capsys.readouterr().err


# What the supervisor lab cannot offer, and the experiments that need it.
KUBERNETES_SIGNALS = {"pod-status", "chaos-mesh", "autoscaler", "api-replicas"}
KUBERNETES_ONLY = ("hpa-spike", "kill-api-pod-under-load")
T0 = 1795744800  # 2026-11-27T02:00:00Z
REDIS_DOWN = {"kind": "service", "subject": "redis", "ledger_id": "1-service", "note": "SIGKILL"}


def _journal(status: str, deviated: bool, unmet: list | None = None) -> dict:
    return {
        "status": status,
        "deviated": deviated,
        "duration": 42.0,
        "end": "2026-11-27T02:00:50+00:00",
        "experiment": {"title": "Redis killed"},
        "run": [
            {
                "activity": {"name": "kill-redis", "type": "action"},
                "status": "succeeded",
                "start": "2026-11-27T02:00:10+00:00",
                "end": "2026-11-27T02:00:11+00:00",
                "output": {"fault": {**REDIS_DOWN, "at": T0 + 10}},
            },
            {
                "activity": {"name": "start-redis", "type": "action"},
                "status": "succeeded",
                "start": "2026-11-27T02:00:30+00:00",
                "end": "2026-11-27T02:00:31+00:00",
                "output": {"reverts": [{**REDIS_DOWN, "at": T0 + 31}]},
            },
            {
                "activity": {
                    "name": "time-to-recover",
                    "type": "probe",
                    "provider": {"func": "time_to_recover"},
                },
                "status": "succeeded",
                "output": 1.25,
            },
        ],
        "coffee_chaos": {"unmet_expectations": unmet or [], "failed_actions": []},
    }


def test_verdict_reads_outcome_recovery_and_fault_window(tmp_path):
    (tmp_path / "journal.json").write_text(json.dumps(_journal("completed", False)))
    verdict = read_verdict(tmp_path, Path("experiments/kill-redis.json"), 0)
    assert verdict.outcome == "passed"
    assert verdict.recovery_s == 2.25, "the revert (1 s: Redis starting) and 1.25 s until ready"
    (window,) = verdict.fault_windows
    assert (
        window.end - window.start == pytest.approx(21.0) and window.label == "redis down (SIGKILL)"
    )


def test_deviation_names_the_unmet_expectation(tmp_path):
    unmet = [{"name": "dashboard-answers-503-with-a-reason", "reason": "got 500"}]
    (tmp_path / "journal.json").write_text(json.dumps(_journal("completed", True, unmet)))
    verdict = read_verdict(tmp_path, Path("experiments/kill-redis.json"), 1)
    assert verdict.outcome == "deviated"
    assert "dashboard-answers-503-with-a-reason: got 500" in verdict.summary()


def test_a_run_without_journal_is_reported_as_crashed(tmp_path):
    verdict = read_verdict(tmp_path, Path("experiments/kill-redis.json"), -9)
    assert verdict.outcome == "crashed"


def _report_input(tmp_path, verdicts) -> ReportInput:
    return ReportInput(
        title="Quick game day",
        verdicts=verdicts,
        score=score(verdicts, [1.0] * len(verdicts)),
        target={"api_url": "http://127.0.0.1:8005"},
        prometheus_url=f"http://127.0.0.1:{free_port()}",  # nobody answers: noted, not fatal
        operators={"hypothesis": "the café fails gracefully"},
    )


def test_report_is_one_page_with_the_verdict_table_and_a_time_axis(tmp_path):
    run_dir = tmp_path / "01-kill-redis"
    (run_dir / "locust").mkdir(parents=True)
    (run_dir / "journal.json").write_text(json.dumps(_journal("completed", False)))
    lines = [
        {
            "t": T0 + i,
            "by_name": {
                "/api/dashboard": {
                    "count": 10,
                    "failures": 3 * int(10 <= i < 31),
                    "codes": {"200": 10 - 3 * int(10 <= i < 31), "503": 3 * int(10 <= i < 31)},
                    "hist": {"2.5": 10},
                }
            },
        }
        for i in range(50)
    ]
    (run_dir / "locust" / "live.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    verdict = read_verdict(run_dir, Path("experiments/kill-redis.json"), 0)
    page = write_report(tmp_path, _report_input(tmp_path, [verdict]))
    html = page.read_text()
    assert html.count('<svg class="timeline"') == 1 and "redis down (SIGKILL)" in html
    assert "failed/s 503" in html and "100</span> resilience score" in html
    assert "src=" not in html.replace('src="data:', ""), "the page links nothing"
    assert 'href="01-kill-redis/journal.json"' in html and "Prometheus: " in html
    assert "versions not known" in html, "no Prometheus answered: no component versions"
    assert '<td>time-to-recover</td><td class="met">met</td><td></td><td>1.25</td>' in html
    assert "| Redis killed | passed |  | 2.2 s | 21 s |" in (tmp_path / "report.md").read_text()
    (chart,) = _chart_data(html)
    rates = next(p for p in chart["panels"] if p["title"].startswith("Load: requests/s"))
    assert rates["t"][0] == 0 and chart["t0"] == T0, (
        "hover times are seconds from the chart's start"
    )
    assert len(rates["series"]["failed/s 503"]) == len(rates["t"]) == 50
    assert reportcheck.problems(page, _seen([chart]), expected_charts=1) == []
    chart["faults"][0][0] += 5  # a window that starts late leaves 503s outside it
    assert (
        "503s outside the Redis fault window"
        in reportcheck.problems(page, _seen([chart]), expected_charts=1)[0]
    )


def _chart_data(html: str) -> list[dict]:
    found = re.findall(r'<script type="application/json" class="chart-data">(.*?)</script>', html)
    return [json.loads(text.replace("<\\/", "</")) for text in found]


def _seen(charts: list[dict]) -> dict:
    """What the Chromium check reads of a page, taken from its source instead."""
    return {
        "requests": [],
        "charts": len(charts),
        "data": charts,
        "pdf": b"%PDF-1.4",
        "hover": "<b>+1 s</b><br>P99: 5",
    }


def test_report_shows_a_soaks_figures_inline(tmp_path):
    run_dir = tmp_path / "01-soak"
    (run_dir / "soak").mkdir(parents=True)
    (run_dir / "journal.json").write_text(json.dumps(_journal("completed", False)))
    samples = [
        {"t": 1795744800 + 30 * i, "api_rss_bytes": 70 * 2**20, "postgres_connections": 12}
        for i in range(5)
    ]
    (run_dir / "soak" / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    limits = {
        "max_rss_slope_mb_per_h": 16,
        "rss_noise_mb": 16,
        "max_connection_growth": 5,
        "max_series_growth": 1000,
    }
    soak.write_report(run_dir, limits)
    verdict = read_verdict(run_dir, Path("experiments/soak.json"), 0)
    html = write_report(tmp_path, _report_input(tmp_path, [verdict])).read_text()
    assert '<img alt="soak figures"' in html and 'src="data:image/png;base64,' in html


@pytest.mark.lab
def test_the_report_header_names_the_components_versions_prometheus_knows(lab, tmp_path):
    facts = publish._target_facts(lab)
    assert re.search(r"PostgreSQL \d+\.\d+", facts["components"]), facts
    assert re.search(r"Redis \d+\.\d+", facts["components"]), facts
    page = write_report(tmp_path, replace(_report_input(tmp_path, []), target=facts))
    assert (
        facts["components"] in page.read_text()
        and facts["components"] in (tmp_path / "report.md").read_text()
    )


@pytest.mark.lab
def test_check_target_finds_every_signal_of_the_lab(lab, capsys):
    assert cli.main(["check-target", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    missing = {name for name, signal in report["signals"].items() if not signal["offered"]}
    assert missing == KUBERNETES_SIGNALS, report["signals"]
    applies = {name: e["applies"] for name, e in report["experiments"].items()}
    assert {applies.pop(name) for name in KUBERNETES_ONLY} == {"no"}
    assert set(applies.values()) == {"fully"}, applies


def test_check_target_of_a_system_without_the_lab_says_what_applies(tmp_path, capsys, monkeypatch):
    """A target with only an unreachable API: nothing applies, and the report says why."""
    monkeypatch.setenv("COFFEE_CHAOS_TARGET", "")  # so that the `--target` set below is undone
    target = write_target(
        tmp_path,
        api_url=f"http://127.0.0.1:{free_port()}",
        prometheus_url=f"http://127.0.0.1:{free_port()}",
        faultproxy_url=f"http://127.0.0.1:{free_port()}",
        supervisor_url=f"unix://{tmp_path}/none.sock",
        secrets_file=str(tmp_path / "none.json"),
    )
    code = cli.main(
        ["--target", target["target_file"], "check-target", "experiments/kill-redis.json"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "no   api" in out and "no   service-control" in out
    assert "no      kill-redis" in out and "needs api, service-control" in out


def test_gameday_report_renders_the_page_of_a_run_made_by_hand(tmp_path, capsys, monkeypatch):
    """`chaos run` by hand: the journal in one place, the load's files in the run directory
    the journal names."""
    monkeypatch.setenv("COFFEE_CHAOS_TARGET", "")
    run_dir = tmp_path / "runs" / "20261127T020000Z-redis-killed"
    (run_dir / "locust").mkdir(parents=True)
    body = _journal("completed", True, [{"name": "readyz-names-redis", "expected": "503",
                                         "observed": "200"}])  # fmt: skip
    body["coffee_chaos"]["run_dir"] = str(run_dir)
    (tmp_path / "journal.json").write_text(json.dumps(body))
    seconds = [{"t": T0 + i, "by_name": {"/api/v1/order": {"count": 5, "failures": 0,
                "codes": {"200": 5}, "hist": {"3.0": 5}}}} for i in range(40)]  # fmt: skip
    (run_dir / "locust" / "live.jsonl").write_text("".join(json.dumps(s) + "\n" for s in seconds))
    target = write_target(tmp_path, prometheus_url=f"http://127.0.0.1:{free_port()}")
    code = cli.main(["--target", target["target_file"], "report", str(tmp_path / "journal.json")])
    assert code == 0 and "Report: " in capsys.readouterr().out
    page = (tmp_path / "report.html").read_text()
    assert page.count('<svg class="timeline"') == 1 and "redis down (SIGKILL)" in page
    assert "readyz-names-redis: expected 503; observed 200" in page
    assert (
        'href="journal.json"' in page
        and 'href="runs/20261127T020000Z-redis-killed/locust/live.jsonl"' in page
    )
    assert "0</span> resilience score" in page


def test_gameday_report_names_a_missing_journal(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COFFEE_CHAOS_TARGET", "")
    target = write_target(tmp_path)
    assert cli.main(["--target", target["target_file"], "report", str(tmp_path)]) == 2
    assert "no journal at" in capsys.readouterr().err
