"""The dashboards as code: generated files up to date, Grafana's schema, one list of queries."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

from dashboards import build, console
from gameday import panels

BOARDS = {board.uid: board for board in panels.DASHBOARDS}
FILES = build.artefacts()


@pytest.mark.parametrize("path", sorted(FILES), ids=lambda p: p.name)
def test_regenerating_the_dashboards_changes_nothing(path: Path) -> None:
    assert path.is_file(), f"{path} is missing: run `python -m dashboards.build`"
    assert path.read_text() == FILES[path], f"{path} is stale: run `python -m dashboards.build`"


def test_check_names_a_stale_file_and_an_unknown_argument_changes_nothing(
    tmp_path: Path, capsys
) -> None:
    page = tmp_path / "consoles" / console.PAGE
    assert build.stale({page: "x"}) == [page], "a missing file is stale"
    page.parent.mkdir()
    page.write_text("x")
    assert build.stale({page: "x"}) == []
    assert build.stale({page: "y"}) == [page]
    assert build.main(["--check"]) == 0, "the committed files are up to date"
    assert build.main(["--help"]) == 2
    assert "unknown argument '--help'" in capsys.readouterr().err


def roundtrip(board: dict) -> dict:
    """A dashboard through the SDK's models of Grafana's schema and back: keys the schema
    does not know are dropped, values of the wrong type fail."""
    register_default_plugins()
    return json.loads(JSONEncoder(sort_keys=True).encode(DashboardModel.from_json(board)))


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_each_dashboard_holds_to_grafanas_schema(uid: str) -> None:
    """All of it, but the Prometheus annotation's fields the SDK's model lacks."""
    board = json.loads((build.HERE / f"{uid}.json").read_text())
    [annotation] = board["annotations"]["list"]
    assert {k: annotation.pop(k) for k in build.grafana.ANNOTATION_EXTRAS} == (
        build.grafana.ANNOTATION_EXTRAS
    )
    assert roundtrip(board) == board
    assert board["schemaVersion"] == 36 and board["uid"] == uid


def test_the_schema_check_catches_what_grafana_would_not_read() -> None:
    board = json.loads((build.HERE / "coffee-chaos-game-day.json").read_text())
    board["panels"][0]["gridPosition"] = board["panels"][0].pop("gridPos")
    assert roundtrip(board) != board


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_panel_asks_the_chosen_datasource_with_the_job_variables(uid: str) -> None:
    board = json.loads((build.HERE / f"{uid}.json").read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for name, job in panels.JOBS.items():
        assert variables[name]["current"]["value"] == job
    [faults] = board["annotations"]["list"]
    assert "coffee_chaos_fault_active" in faults["expr"]
    graphs = [p for p in board["panels"] if p["type"] == "timeseries"]
    assert len(graphs) == len(BOARDS[uid].panels)
    expected = [q.expr for p in BOARDS[uid].panels for q in p.queries]
    exprs = [t["expr"] for p in graphs for t in p["targets"]]
    assert sorted(exprs) == sorted(expected), "the dashboard's queries are panels.py's"
    for panel in graphs:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert 'job="$' in target["expr"] or 'job=~"$' in target["expr"], target["expr"]


def test_optional_panels_come_after_the_row_that_says_so() -> None:
    board = json.loads((build.HERE / "coffee-chaos-game-day.json").read_text())
    titles = [p["title"] for p in board["panels"]]
    row = titles.index(build.grafana.OPTIONAL_ROW)
    optional = [p.title for p in BOARDS["coffee-chaos-game-day"].panels if p.optional]
    assert titles[row + 1 :] == optional and optional


def test_the_live_page_shows_the_live_panels_with_the_labs_jobs() -> None:
    page = FILES[build.CONSOLES / console.PAGE]
    live = panels.live_panels()
    assert [p.title for p in live][:2] == [
        "Fault windows (coffee_chaos_fault_active)",
        "Experiment phase",
    ]
    for panel in live:
        assert f"<h4>{html.escape(panel.title)}</h4>" in page
        for query in panel.queries:
            assert json.dumps(panels.expand(query.expr)) in page
    assert "$" not in page.split("<script>", 2)[2], "every variable is expanded"
    assert "[[code]]" in page and '{{ template "prom_console_head" }}' in page


def test_expand_names_an_unknown_variable() -> None:
    with pytest.raises(KeyError, match=r"\$cafe_job"):
        panels.expand('up{job="$cafe_job"}')
    assert panels.expand('up{job="$api_job"}', {"api_job": "shop"}) == 'up{job="shop"}'


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool comes with the lab's Prometheus")
def test_every_query_parses(tmp_path: Path) -> None:
    """promtool parses each expanded query as a recording rule (the lab test also runs them)."""
    rules = [
        {"record": f"coffee_chaos:query_{i}", "expr": panels.expand(query.expr)}
        for i, query in enumerate(q for b in panels.DASHBOARDS for p in b.panels for q in p.queries)
    ]
    rules.append({"record": "coffee_chaos:faults", "expr": panels.expand(panels.FAULT_ANNOTATION)})
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout
