"""Every environment variable between the engine and the Locust process, named once.

``gameday.locustrun`` sets them when it starts Locust; the Locust side reads
them (the file named in each line). Standard library only: the chaos process
imports this module as ``workloads.env``, Locust's as ``env``. To add a
variable: a constant and its line in ``VARIABLES`` here, then set it in
``gameday.locustrun`` and read it where Locust needs it.
"""

from __future__ import annotations

USER_CLASSES = "COFFEE_USER_CLASSES"
TASKS_PER_USER_S = "COFFEE_TASKS_PER_USER_S"
DASHBOARD_INTERVAL_S = "COFFEE_DASHBOARD_INTERVAL_S"
SHAPE = "COFFEE_SHAPE"
SHAPE_PARAMS = "COFFEE_SHAPE_PARAMS"
LIVE_FILE = "COFFEE_LIVE_FILE"
ACKED_FILE = "COFFEE_ACKED_FILE"
METRICS_PORT = "COFFEE_METRICS_PORT"
ABORT_FAILURE_RATIO = "COFFEE_ABORT_FAILURE_RATIO"
ABORT_AFTER_S = "COFFEE_ABORT_AFTER_S"
EXPECT_WORKERS = "COFFEE_EXPECT_WORKERS"
REQUEST_TIMEOUT_S = "COFFEE_REQUEST_TIMEOUT_S"

DEFAULT_USER_CLASSES = "CoffeeConsumer=10,RushHourCustomer=5,DowntownRegular=3"

VARIABLES: dict[str, str] = {
    USER_CLASSES: f"user classes and weights, 'A=10,B=5' (locustfile; {DEFAULT_USER_CLASSES})",
    TASKS_PER_USER_S: "open model: tasks per second each HTTP user runs (locustfile)",
    DASHBOARD_INTERVAL_S: "the target's dashboard push interval, for the watchers' jitter (watcher)",
    SHAPE: "the load shape's name, in workloads/shapes (shapefile)",
    SHAPE_PARAMS: "the load shape's parameters, JSON (shapefile)",
    LIVE_FILE: "where the master appends one line per second (instrumentation)",
    ACKED_FILE: "where the master appends each acknowledged order (instrumentation)",
    METRICS_PORT: "the port of the master's Prometheus metrics (instrumentation)",
    ABORT_FAILURE_RATIO: "self-stop: the failure ratio not to stay over (instrumentation)",
    ABORT_AFTER_S: "self-stop: for how many seconds (instrumentation)",
    EXPECT_WORKERS: "local plus remote workers the master waits for (instrumentation)",
    REQUEST_TIMEOUT_S: "how long an HTTP request may hang before it fails (locustfile)",
}
