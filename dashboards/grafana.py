"""Grafana dashboards (Grafana 10.1+, schema 36) built with grafana-foundation-sdk.

Each dashboard has a Prometheus datasource variable and one variable per scrape
job (``gameday.panels.JOBS``, the lab's names by default), so it works against a
system that is not the lab; the fault windows are annotations drawn from
``coffee_chaos_fault_active``; panels beyond the contract sit under a row that says
so.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import dashboard, prometheus, timeseries
from grafana_foundation_sdk.builders.common import VizLegendOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from gameday import panels

__all__ = ["DATASOURCE", "build", "to_json"]

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
OPTIONAL_ROW = "Beyond the contract (optional: the reference café, client libraries)"
# Fields of a Prometheus annotation that the SDK's model of Grafana's schema lacks; without
# "step" Grafana evaluates the annotation every 60 s and misses a fault shorter than that.
ANNOTATION_EXTRAS = {
    "step": "5s",
    "titleFormat": "{{kind}} on {{target}}",
    "tagKeys": "experiment,name",
}
PANEL_HEIGHT = 8
PANEL_WIDTH = 12


def build(board: panels.Dashboard) -> dashboard.Dashboard:
    """The builder of one dashboard."""
    builder = (
        dashboard.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags(["coffee-chaos", "generated"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time(board.time_from, "now")
        .refresh(board.refresh)
        .timezone("browser")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .annotation(
            dashboard.AnnotationQuery()
            .name("Faults (coffee_chaos_fault_active)")
            .datasource(DATASOURCE)
            .enable(True)
            .icon_color("red")
            .expr(panels.FAULT_ANNOTATION)
        )
    )
    for variable, job in panels.JOBS.items():
        builder = builder.with_variable(_job_variable(variable, job))
    for panel in (p for p in board.panels if not p.optional):
        builder = builder.with_panel(_panel(panel))
    optional = [p for p in board.panels if p.optional]
    if optional:
        builder = builder.with_row(dashboard.Row(OPTIONAL_ROW))
        for panel in optional:
            builder = builder.with_panel(_panel(panel))
    return builder


def to_json(board: panels.Dashboard) -> str:
    """The dashboard's JSON as committed in dashboards/ (sorted keys, stable)."""
    body = json.loads(JSONEncoder().encode(build(board).build()))
    for annotation in body["annotations"]["list"]:
        annotation.update(ANNOTATION_EXTRAS)
    return json.dumps(body, sort_keys=True, indent=2) + "\n"


def _job_variable(variable: str, job: str) -> dashboard.QueryVariable:
    label = variable.removesuffix("_job").replace("_", " ")
    return (
        dashboard.QueryVariable(variable)
        .label(f"{label} job")
        .datasource(DATASOURCE)
        .query("label_values(up, job)")
        .current(VariableOption(selected=True, text=job, value=job))
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def _panel(panel: panels.Panel) -> timeseries.Panel:
    built = (
        timeseries.Panel()
        .title(panel.title)
        .datasource(DATASOURCE)
        .unit(panel.unit)
        .height(PANEL_HEIGHT)
        .span(PANEL_WIDTH)
        .fill_opacity(10)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
        )
    )
    if panel.description:
        built = built.description(panel.description)
    for index, query in enumerate(panel.queries):
        built = built.with_target(
            prometheus.Dataquery()
            .expr(query.expr)
            .legend_format(query.legend)
            .ref_id(chr(ord("A") + index))
        )
    return built
