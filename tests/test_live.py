"""Watch it live (issue 16), during ONE kill-redis game day in the quick profile:

- the fault series: Prometheus answers ``coffee_chaos_fault_active{target="redis"}`` for
  the seconds Redis was down (from the kill to the end of its restart, as the journal
  times them), within one scrape interval, and nothing after the revert;
- every query of every dashboard parses and returns a series while load and the fault
  are on (a Grafana panel with "No data" is a defect);
- the live page loads in headless Chromium with data in every graph and the fault in
  its legend; the screenshot goes to the run directory (and to docs/ with
  COFFEE_CHAOS_DOCS_SCREENSHOT=1, for the README).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from browser import chromium, graphs, has_data, screenshot
from conftest import lab_state, wait_ready

from dashboards import console
from gameday import panels
from gameday.faultmetrics import PHASES
from gameday.target import Target, load_target
from tests.chaosrun import REPO, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

GAMEDAY = str(REPO / ".venv" / "bin" / "gameday")
SCRAPE_S = 5.0  # the lab's scrape interval (roles/prometheus)
SLACK_S = 1.0  # a scrape's own duration and the clocks' rounding
FAULT = 'coffee_chaos_fault_active{target="redis"}'
TOTAL = 'coffee_chaos_faults_total{kind="service",target="redis"}'
# The live page's time range opens this long before the game day began.
BEFORE_RUN_S = 15
DOCS_SCREENSHOT = REPO / "docs" / "live-page.png"


@dataclass
class LiveRun:
    """What one kill-redis game day showed, during the fault and after it."""

    target: Target
    started: float
    output: str = ""
    code: int | None = None
    run_dir: Path | None = None
    faults_before: float = 0.0
    series_per_query: dict[str, int] = field(default_factory=dict)
    page_dom: str = ""
    plain_page_dom: str = ""
    screenshot: Path | None = None


def prometheus(target: Target, query: str, **params: float) -> list[dict]:
    response = requests.get(
        f"{target.prometheus_url}/api/v1/query{'_range' if 'step' in params else ''}",
        params={"query": query, **params},
        timeout=10,
    )
    body = response.json()
    assert body["status"] == "success", f"{query}: {body.get('error')}"
    return body["data"]["result"]


def samples(run: LiveRun, query: str, at: float) -> list[tuple[float, dict]]:
    """The raw samples of ``query`` from the run's start up to ``at``: (time, labels); what
    earlier experiments did to the same target is not this run's."""
    found = prometheus(run.target, f"{query}[{since(run, at)}]", time=at)
    return sorted((float(t), s["metric"]) for s in found for t, _ in s["values"])


def since(run: LiveRun, at: float) -> str:
    """A range selector from the run's start up to ``at``."""
    return f"{math.ceil(at - run.started)}s"


def page_hash(started: float) -> str:
    """The console's time control (``#pctc``) from just before ``started`` to now, so the
    run fills the graphs instead of the page's default 15 minutes."""
    duration = math.ceil(time.time() - started) + BEFORE_RUN_S
    return "#pctc" + quote(json.dumps({"duration": duration, "endTime": 0}))


def during_the_fault(run: LiveRun) -> None:
    """Load and the fault are on: look at the live page, then run every dashboard query."""
    run.screenshot = run.run_dir / "live-page.png"
    url = panels.live_page_url(run.target.prometheus_url) + page_hash(run.started)
    screenshot(url, run.screenshot)
    run.page_dom, _ = chromium(url, "--dump-dom")
    run.plain_page_dom, _ = chromium(panels.live_page_url(run.target.prometheus_url), "--dump-dom")
    now = time.time()
    for board in panels.DASHBOARDS:
        for panel in board.panels:
            for query in panel.queries:
                expr = panels.expand(query.expr)
                found = prometheus(run.target, expr, start=run.started, end=now, step=SCRAPE_S)
                run.series_per_query[f"{board.uid}: {panel.title}: {query.legend}"] = len(found)


@pytest.fixture(scope="module")
def kill_redis(tmp_path_factory) -> LiveRun:
    target = load_target()
    assert wait_ready(target), "the café is not ready"
    assert not any(lab_state(target).values()), f"the lab is not clean: {lab_state(target)}"
    runs = tmp_path_factory.mktemp("live")
    before = prometheus(target, TOTAL)
    run = LiveRun(target, time.time(), faults_before=float(before[0]["value"][1]) if before else 0)
    process = subprocess.Popen(
        [
            GAMEDAY,
            "run",
            "--profile",
            "quick",
            "--runs-dir",
            str(runs),
            "experiments/kill-redis.json",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: prometheus(target, FAULT), timeout=90, what=f"{FAULT} in Prometheus")
        time.sleep(2 * SCRAPE_S)  # the API's 503s and Redis's absence are scraped too
        [run.run_dir] = runs.glob("gameday-*/01-kill-redis")
        during_the_fault(run)
    finally:
        run.output = process.communicate(timeout=240)[0]
        run.code = process.returncode
    if os.environ.get("COFFEE_CHAOS_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(run.screenshot, DOCS_SCREENSHOT)
    assert wait_ready(target) and not any(lab_state(target).values()), lab_state(target)
    return run


def journal_times(run: LiveRun) -> tuple[float, float]:
    """When the kill began and when Redis's restart ended, as the journal says."""
    journal = json.loads((run.run_dir / "journal.json").read_text())
    times = {r["activity"]["name"]: (r["start"], r["end"]) for r in journal["run"]}
    return _epoch(times["kill-redis"][0]), _epoch(times["start-redis"][1])


def _epoch(stamp: str) -> float:
    moment = datetime.fromisoformat(stamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def test_the_game_day_prints_the_live_links_and_passes(kill_redis: LiveRun) -> None:
    lines = kill_redis.output.splitlines()
    assert lines[0].startswith("Session: ")
    assert (
        lines[1] == f"Watch it live: {kill_redis.target.prometheus_url}/consoles/coffee-chaos.html"
    )
    assert lines[2].startswith(f"Grafana:       {panels.grafana_url()}")
    assert kill_redis.code == 0, kill_redis.output
    assert "PASSED" in kill_redis.output


def test_the_fault_series_spans_redis_downtime_and_ends_with_the_revert(
    kill_redis: LiveRun,
) -> None:
    killed, restarted = journal_times(kill_redis)
    seen = samples(kill_redis, FAULT, at=time.time())
    assert seen, f"Prometheus never answered {FAULT}"
    first, last = seen[0][0], seen[-1][0]
    assert killed - SLACK_S <= first <= killed + SCRAPE_S + SLACK_S, (first, killed)
    assert restarted - SCRAPE_S - SLACK_S <= last <= restarted + SLACK_S, (last, restarted)
    assert {labels["name"] for _, labels in seen} == {"kill-redis"}
    assert {labels["experiment"] for _, labels in seen} == {"kill-redis"}
    assert prometheus(kill_redis.target, FAULT) == [], "nothing after the revert"
    [total] = prometheus(kill_redis.target, TOTAL)
    assert float(total["value"][1]) == kill_redis.faults_before + 1
    scrape_errors = prometheus(kill_redis.target, 'node_textfile_scrape_error{job="node"}')
    assert [float(s["value"][1]) for s in scrape_errors] == [0.0]


def test_the_phase_goes_baseline_fault_recovery_with_the_fault(kill_redis: LiveRun) -> None:
    query = 'coffee_chaos_experiment_phase{experiment="kill-redis"}'
    now = time.time()
    found = prometheus(kill_redis.target, f"{query}[{since(kill_redis, now)}]", time=now)
    current = sorted(
        (float(t), s["metric"]["phase"]) for s in found for t, v in s["values"] if v == "1"
    )
    order = [phase for i, (_, phase) in enumerate(current) if i == 0 or current[i - 1][1] != phase]
    assert order[:3] == ["baseline", "fault", "recovery"] and set(order) <= set(PHASES)
    fault_times = [t for t, phase in current if phase == "fault"]
    assert fault_times == [t for t, _ in samples(kill_redis, FAULT, at=time.time())]


def test_every_dashboard_query_returns_a_series_under_load_and_fault(kill_redis: LiveRun) -> None:
    empty = [name for name, count in kill_redis.series_per_query.items() if count == 0]
    total = sum(len(p.queries) for b in panels.DASHBOARDS for p in b.panels)
    assert len(kill_redis.series_per_query) == total
    assert not empty, f"panels that would show 'No data': {empty}"


def test_the_live_page_shows_every_graph_with_data_and_the_fault(kill_redis: LiveRun) -> None:
    shown = graphs(kill_redis.page_dom)
    assert len(shown) == len(panels.live_panels())
    assert [name for name, graph in shown.items() if not has_data(graph)] == []
    legends = re.findall(r'<span class="label">([^<]*)</span>', kill_redis.page_dom)
    assert "fault service on redis by kill-redis" in legends
    assert "kill-redis: fault" in legends
    assert "503" in legends, "the dashboard's 503s during the outage"
    assert kill_redis.screenshot.stat().st_size > 10_000


def test_the_live_page_follows_the_clock_unless_its_link_fixes_a_time_range(
    kill_redis: LiveRun,
) -> None:
    refresh = r'id="prom_graph_refresh_button_value">([^<]*)<'
    assert re.findall(refresh, kill_redis.plain_page_dom) == [console.REFRESH]
    assert re.findall(refresh, kill_redis.page_dom) == ["Off"]
    assert len(graphs(kill_redis.plain_page_dom)) == len(panels.live_panels())


def test_status_lists_the_live_page_and_the_dashboards(kill_redis: LiveRun) -> None:
    status = subprocess.run([GAMEDAY, "status"], cwd=REPO, capture_output=True, text=True)
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(
        r"Live page\s+http://127\.0\.0\.1:9090/consoles/coffee-chaos\.html\s+200", status.stdout
    )
    listed = re.findall(r"^Dashboard\s+(\S+)$", status.stdout, flags=re.M)
    assert listed == [str(p) for p in panels.dashboard_files()]
