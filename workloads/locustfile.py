"""The café's customers, as the target contract describes them, plus dashboard users.

Which classes run, and their weights, come from ``COFFEE_USER_CLASSES``
(``"CoffeeConsumer=10,RushHourCustomer=5,DowntownRegular=3"`` by default), so
one file serves every experiment. An unknown name stops Locust before any load.
``COFFEE_TASKS_PER_USER_S`` (open model, set for the sustained shape's
``orders_per_s``) paces the HTTP users instead of their waits: each runs a
task every ``1 / COFFEE_TASKS_PER_USER_S`` seconds from a random phase of its
own (Locust spawns a whole second's users at once; with a common phase, as
Locust's ``constant_throughput`` keeps them, they would arrive together, in
bursts, for the whole run).

Distributed runs: the master hands these settings (and the dashboard interval)
to every worker with Locust's spawn messages, so a remote worker started
without them (``playbooks/roles/locust``) runs the master's classes and waits.

    COFFEE_USER_CLASSES=CappuccinoLover=1 locust -f workloads/locustfile.py \\
        --headless -u 5 -r 5 -t 10s --host http://127.0.0.1:8005
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import UTC, datetime
from typing import Any

import env
import gevent
import instrumentation
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.runners import WorkerRunner
from watcher import DashboardWatcher

SETTINGS_OPTION = "coffee_settings"  # travels in parsed_options, as Locust's custom options do
ORDER_PATH = "/api/v1/order"
DASHBOARD_PATH = "/api/dashboard"
PRICES = {"cappuccino": (4.50, 6.50), "americano": (3.00, 4.50), "latte": (4.00, 6.00)}
STORES = ("uptown", "downtown", "central", "southend")


def make_order(drink: str | None = None, store: str | None = None) -> dict[str, Any]:
    """An order as a customer places it: priced within the drink's range, stamped now (UTC)."""
    drink = drink or random.choice(list(PRICES))
    low, high = PRICES[drink]
    return {
        "drink": drink,
        "store": store or random.choice(STORES),
        "price": round(random.uniform(low, high), 2),
        "timestamp": datetime.now(UTC).isoformat(),
    }


class PacedUser(FastHttpUser):
    """An HTTP user that, in the open model, runs a task every ``pace_s`` seconds from a
    random phase of its own; otherwise it keeps its class's wait."""

    abstract = True
    pace_s = 0.0
    next_slot = 0.0

    def on_start(self) -> None:
        if self.pace_s:
            gevent.sleep(random.uniform(0, self.pace_s))
            self.next_slot = time.monotonic()

    def paced_wait(self) -> float:
        """Until the next slot of this user's own phase; a late task delays, never bunches,
        and counts as a missed pace (the live statistics' ``pace_missed``)."""
        now = time.monotonic()
        slot = self.next_slot + self.pace_s
        if now > slot:
            instrumentation.recorder.missed_pace()
        self.next_slot = max(slot, now)
        return self.next_slot - now


class Customer(PacedUser):
    """Places orders; anything but a 200 carrying an ``id`` is a failure."""

    abstract = True

    def order(self, drink: str | None = None, store: str | None = None) -> None:
        with (
            instrumentation.in_flight(ORDER_PATH),
            self.client.post(
                ORDER_PATH, json=make_order(drink, store), name=ORDER_PATH, catch_response=True
            ) as response,
        ):
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                body = response.json()
            except ValueError:
                response.failure("200 without a JSON body")
                return
            if not isinstance(body, dict) or "id" not in body:
                response.failure("200 without an order id")
                return
            instrumentation.recorder.acknowledge(body)


class CoffeeConsumer(Customer):
    """Any drink at any store, with a preference for cappuccino."""

    wait_time = between(1, 5)

    @task(10)
    def any_drink(self) -> None:
        self.order()

    @task(3)
    def cappuccino(self) -> None:
        self.order("cappuccino")

    @task(2)
    def latte(self) -> None:
        self.order("latte")

    @task(1)
    def americano(self) -> None:
        self.order("americano")


class DowntownRegular(Customer):
    """Any drink, always at downtown."""

    wait_time = between(2, 8)

    @task
    def downtown(self) -> None:
        self.order(store="downtown")


class CappuccinoLover(Customer):
    """Cappuccino at any store."""

    wait_time = between(3, 10)

    @task
    def cappuccino(self) -> None:
        self.order("cappuccino")


class RushHourCustomer(Customer):
    """Any drink at any store, in a hurry."""

    wait_time = between(0.5, 2)

    @task
    def any_drink(self) -> None:
        self.order()


class DashboardViewer(PacedUser):
    """Watches the dashboard; anything but a 200 is a failure."""

    wait_time = between(1, 3)

    @task
    def dashboard(self) -> None:
        with (
            instrumentation.in_flight(DASHBOARD_PATH),
            self.client.get(DASHBOARD_PATH, name=DASHBOARD_PATH, catch_response=True) as response,
        ):
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")


PROFILES = {
    cls.__name__: cls
    for cls in (
        CoffeeConsumer,
        DowntownRegular,
        CappuccinoLover,
        RushHourCustomer,
        DashboardViewer,
        DashboardWatcher,
    )
}


def parse_user_classes(spec: str) -> dict[str, int]:
    """``"A=10,B=5"`` -> ``{"A": 10, "B": 5}``; raises ValueError naming the bad part."""
    chosen: dict[str, int] = {}
    for part in filter(None, (item.strip() for item in spec.split(","))):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in PROFILES:
            raise ValueError(
                f"unknown user class {name!r} in {env.USER_CLASSES}={spec!r}: "
                f"choose among {', '.join(PROFILES)}"
            )
        try:
            chosen[name] = int(weight.strip() or "1")
        except ValueError:
            raise ValueError(
                f"weight of {name!r} in {env.USER_CLASSES} is not an integer"
            ) from None
        if chosen[name] < 1:
            raise ValueError(f"weight of {name!r} in {env.USER_CLASSES} must be at least 1")
    if not chosen:
        raise ValueError(
            f"{env.USER_CLASSES} names no user class: e.g. {env.DEFAULT_USER_CLASSES!r}"
        )
    return chosen


def _select(spec: str, tasks_per_user_s: str, request_timeout_s: str = "") -> None:
    """Leave only the chosen classes runnable, with their weights (and throughput), and give
    every HTTP request the run's timeout: a request that hangs becomes a recorded failure."""
    try:
        chosen = parse_user_classes(spec)
        throughput = float(tasks_per_user_s) if tasks_per_user_s else None
        timeout = float(request_timeout_s) if request_timeout_s else None
    except ValueError as exc:
        sys.stderr.write(f"coffee-chaos locustfile: {exc}\n")
        sys.exit(2)
    if timeout:
        PacedUser.network_timeout = PacedUser.connection_timeout = timeout
    for name, cls in PROFILES.items():
        cls.abstract = name not in chosen
        cls.weight = chosen.get(name, cls.weight)
        if throughput and issubclass(cls, PacedUser):
            cls.pace_s = 1 / throughput
            cls.wait_time = PacedUser.paced_wait


_select(
    os.environ.get(env.USER_CLASSES, env.DEFAULT_USER_CLASSES),
    os.environ.get(env.TASKS_PER_USER_S, ""),
    os.environ.get(env.REQUEST_TIMEOUT_S, ""),
)


@events.init.add_listener
def _hand_settings_to_workers(environment: Environment, **_: Any) -> None:
    if environment.parsed_options is not None and not isinstance(environment.runner, WorkerRunner):
        passed_on = (env.TASKS_PER_USER_S, env.DASHBOARD_INTERVAL_S, env.REQUEST_TIMEOUT_S)
        settings = {name: os.environ.get(name, "") for name in passed_on}
        settings[env.USER_CLASSES] = os.environ.get(env.USER_CLASSES, env.DEFAULT_USER_CLASSES)
        setattr(environment.parsed_options, SETTINGS_OPTION, settings)


@events.test_start.add_listener
def _take_settings_from_master(environment: Environment, **_: Any) -> None:
    """On a worker, before it spawns: the master's classes, waits and dashboard interval."""
    settings = getattr(environment.parsed_options, SETTINGS_OPTION, None)
    if not isinstance(environment.runner, WorkerRunner) or not settings:
        return
    _select(
        settings[env.USER_CLASSES],
        settings[env.TASKS_PER_USER_S],
        settings.get(env.REQUEST_TIMEOUT_S, ""),
    )
    DashboardWatcher.interval_s = float(
        settings[env.DASHBOARD_INTERVAL_S] or DashboardWatcher.interval_s
    )
    environment.user_classes = [cls for cls in PROFILES.values() if not cls.abstract]
