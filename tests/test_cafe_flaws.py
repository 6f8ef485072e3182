"""The café's switchable flaws (CAFE_FLAWS): each one shows its mistake, and the healthy café
answers the same stimulus as the contract asks.

Lab tests run side cafés (tests/cafe_helpers.py): the repo's café on private ports, with a
Redis server of its own and its own schema in the lab's PostgreSQL, reached through a fault
proxy of its own; the lab's café, keys and proxy are never touched. The figures (leak, RSS,
push lag) are printed: run with ``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import psutil
import pytest
import requests
import websocket
from cafe_helpers import (
    CAFE_DIR,
    FLAWS_SCHEMA,
    PrivateFaultProxy,
    SideCafe,
    connect_db,
    migrate,
    wait_until,
)

sys.path.insert(0, str(CAFE_DIR))

from refcafe.aggregation import compute  # noqa: E402
from refcafe.flaws import FLAWS, SLOW_START_S  # noqa: E402
from refcafe.settings import UNBOUNDED_SECONDS, Settings, SettingsError  # noqa: E402
from target_files import write_target  # noqa: E402

from gameday import pgconns, pgreadonly  # noqa: E402
from gameday.target import load_target  # noqa: E402

README = CAFE_DIR.parent / "README.md"
BIG_SCHEMA = "coffee_flaws_big"
BIG_ROWS = 100_000
MIB = 1024 * 1024

lab = pytest.mark.lab
MakeCafe = Callable[..., SideCafe]
_serial = itertools.count()


# --- settings (no lab) ---------------------------------------------------------------------


def test_cafe_flaws_are_parsed_into_the_settings() -> None:
    settings = Settings.from_env({"CAFE_FLAWS": " no-reconnect,, blocking-handler "})
    assert settings.flaws == {"no-reconnect", "blocking-handler"}
    assert settings.flaw("no-reconnect") and not settings.flaw("serial-broadcast")
    assert Settings.from_env({}).flaws == Settings.from_env({"CAFE_FLAWS": ""}).flaws == set()


def test_an_unknown_flaw_is_refused_naming_it_and_the_known_ones() -> None:
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"CAFE_FLAWS": "no-reconnect,no-retries"})
    assert "CAFE_FLAWS: unknown flaw 'no-retries'" in str(exc.value)
    assert all(name in str(exc.value) for name in FLAWS)


def test_a_flaw_name_the_code_misspells_is_a_bug() -> None:
    with pytest.raises(KeyError, match="no-reconect"):
        Settings.from_env({}).flaw("no-reconect")


def test_no_dependency_timeouts_makes_every_dependency_wait_an_hour() -> None:
    healthy = Settings.from_env({})
    flawed = Settings.from_env({"CAFE_FLAWS": "no-dependency-timeouts"})
    assert (healthy.dependency_timeout, healthy.db_pool_timeout) == (1.0, 1.0)
    assert flawed.dependency_timeout == flawed.db_pool_timeout == UNBOUNDED_SECONDS
    assert f"connect_timeout={int(UNBOUNDED_SECONDS)}" in flawed.postgres_conninfo("x")


def test_the_readme_lists_every_flaw() -> None:
    section = README.read_text().split("## Switchable flaws", 1)[1].split("\n## ", 1)[0]
    assert [name for name in FLAWS if f"`{name}`" not in section] == []


# --- lab fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def side_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("side-cafes")


@pytest.fixture(scope="module")
def proxy(side_logs: Path) -> Iterator[PrivateFaultProxy]:
    """The side cafés' own fault proxy, and their schema (dropped afterwards)."""
    migrate(FLAWS_SCHEMA)
    started = PrivateFaultProxy(side_logs)
    try:
        yield started
    finally:
        started.close()
        drop_schema(FLAWS_SCHEMA)


@pytest.fixture
def cafes(proxy: PrivateFaultProxy, side_logs: Path) -> Iterator[MakeCafe]:
    """Make side cafés (``flaws`` and env); all are stopped after the test."""
    made: list[SideCafe] = []

    def make(flaws: str = "", **env: str) -> SideCafe:
        name = f"{flaws or 'healthy'}-{next(_serial)}"
        made.append(SideCafe(proxy, side_logs, name, flaws, **env))
        return made[-1]

    try:
        yield make
    finally:
        for cafe in made:
            cafe.close()


def drop_schema(schema: str) -> None:
    with connect_db() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def order(**changes: object) -> dict[str, object]:
    return {
        "drink": "latte",
        "store": "uptown",
        "price": 4.5,
        "timestamp": datetime.now(UTC).isoformat(),
        **changes,
    }


def post_order(cafe: SideCafe, timeout: float = 5, **changes: object) -> requests.Response:
    return requests.post(f"{cafe.url}/api/v1/order", json=order(**changes), timeout=timeout)


def answered_in(call: Callable[[], requests.Response]) -> float | None:
    """Seconds ``call`` took to answer, or None when it timed out."""
    began = time.monotonic()
    try:
        call()
    except requests.Timeout:
        return None
    return time.monotonic() - began


# --- health and errors ---------------------------------------------------------------------


@lab
def test_readiness_never_rechecks_stays_200_with_postgresql_down(cafes: MakeCafe) -> None:
    flawed = cafes("readiness-never-rechecks").start_api()
    healthy = cafes().start_api()
    with flawed.down("postgresql"), healthy.down("postgresql"):
        flawed_ready = requests.get(f"{flawed.url}/readyz", timeout=5)
        healthy_ready = requests.get(f"{healthy.url}/readyz", timeout=5)
    assert flawed_ready.status_code == 200, flawed_ready.text
    assert healthy_ready.status_code == 503
    assert healthy_ready.json()["checks"]["postgresql"].startswith("error")


@lab
def test_500_while_starting_answered_500_before_it_was_ready(cafes: MakeCafe) -> None:
    """start_api polls /readyz until it answers 200; the café counts every answer it gave."""
    flawed = cafes("500-while-starting").start_api()
    healthy = cafes().start_api()
    answered_500 = {}
    for cafe in (flawed, healthy):
        assert requests.get(f"{cafe.url}/readyz", timeout=5).status_code == 200
        metrics = requests.get(f"{cafe.url}/metrics", timeout=5).text
        answered_500[cafe] = sum(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("http_requests_total{") and 'status_code="500"' in line
        )
    assert answered_500[flawed] >= 2 and answered_500[healthy] == 0, answered_500


@lab
@pytest.mark.extended  # 12 s of warm-up; make detection runs the flaw against kill-api
def test_slow_start_takes_its_warm_up_before_it_answers(cafes: MakeCafe) -> None:
    took = {}
    for flaws in ("", "slow-start"):
        cafe, began = cafes(flaws), time.monotonic()
        cafe.start_api()
        took[flaws] = time.monotonic() - began
    assert took["slow-start"] >= SLOW_START_S > 2 * took[""], took


@lab
def test_500_on_dependency_failure_answers_plain_500s(cafes: MakeCafe) -> None:
    flawed = cafes("500-on-dependency-failure").start_api()
    healthy = cafes().start_api()
    answers = {}
    for cafe in (flawed, healthy):
        with cafe.down("redis"):
            answers[cafe, "redis"] = requests.get(f"{cafe.url}/api/dashboard", timeout=5)
        with cafe.down("postgresql"):
            answers[cafe, "postgresql"] = post_order(cafe)
    for dependency in ("redis", "postgresql"):
        flawed_answer, healthy_answer = answers[flawed, dependency], answers[healthy, dependency]
        assert flawed_answer.status_code == 500
        assert flawed_answer.headers["content-type"].startswith("text/plain")
        assert flawed_answer.text == "Internal Server Error"
        assert healthy_answer.status_code == 503
        assert healthy_answer.json()["dependency"] == dependency


@lab
def test_no_dependency_timeouts_hangs_on_a_stalled_dependency(cafes: MakeCafe) -> None:
    flawed = cafes("no-dependency-timeouts").start_api()
    healthy = cafes().start_api()
    calls = {
        (cafe, dependency): call
        for cafe in (flawed, healthy)
        for dependency, call in (
            ("postgresql", lambda cafe=cafe: post_order(cafe, timeout=4)),
            ("redis", lambda cafe=cafe: requests.get(f"{cafe.url}/api/dashboard", timeout=4)),
        )
    }
    with (
        flawed.stalled("postgresql"),
        flawed.stalled("redis"),
        healthy.stalled("postgresql"),
        healthy.stalled("redis"),
        ThreadPoolExecutor(len(calls)) as pool,
    ):
        took = dict(zip(calls, pool.map(answered_in, calls.values()), strict=True))
    for dependency in ("postgresql", "redis"):
        assert took[flawed, dependency] is None, f"{dependency}: answered in spite of the stall"
        healthy_took = took[healthy, dependency]
        assert healthy_took is not None and healthy_took < 2, f"{dependency}: {healthy_took}"


@lab
def test_no_reconnect_fails_orders_after_the_database_is_back(cafes: MakeCafe) -> None:
    flawed = cafes("no-reconnect").start_api()
    healthy = cafes().start_api()
    for cafe in (flawed, healthy):
        assert post_order(cafe).status_code == 200
        with cafe.down("postgresql"):  # a restart: every connection is cut
            time.sleep(0.5)
    wait_until(lambda: post_order(healthy).status_code == 200, timeout=5)
    assert [post_order(flawed).status_code for _ in range(3)] == [503, 503, 503]
    ready = requests.get(f"{flawed.url}/readyz", timeout=5)
    assert ready.status_code == 503 and ready.json()["checks"]["postgresql"].startswith("error")
    flawed.stop_api()
    flawed.start_api()  # only a restart heals it
    assert post_order(flawed).status_code == 200


@lab
def test_connection_per_request_fails_every_order_once_the_slots_are_taken(
    cafes: MakeCafe, tmp_path: Path
) -> None:
    flawed = cafes("connection-per-request").start_api()
    healthy = cafes().start_api()
    assert post_order(flawed).status_code == 200 and post_order(healthy).status_code == 200
    lab_target = load_target(write_target(tmp_path))
    pgconns.exhaust(lab_target, hold_s=30)
    try:
        flawed_answers = [post_order(flawed) for _ in range(3)]
        healthy_answers = [post_order(healthy).status_code for _ in range(3)]
    finally:
        pgconns.release(lab_target)
    assert [a.status_code for a in flawed_answers] == [503, 503, 503]
    assert flawed_answers[0].json()["dependency"] == "postgresql"
    assert healthy_answers == [200, 200, 200], "the healthy café serves on its pool"
    assert post_order(flawed).status_code == 200, "and works again once slots are free"


@lab
def test_readiness_ignores_read_only_stays_200_while_orders_fail(
    cafes: MakeCafe, tmp_path: Path
) -> None:
    flawed = cafes("readiness-ignores-read-only").start_api()
    healthy = cafes().start_api()
    lab_target = load_target(write_target(tmp_path))
    pgreadonly.make_read_only(lab_target)
    try:
        for cafe in (flawed, healthy):  # each ended session fails once, then reconnects
            wait_until(lambda c=cafe: "read-only" in post_order(c).text, timeout=5)
        orders = {cafe: post_order(cafe) for cafe in (flawed, healthy)}
        ready = {cafe: requests.get(f"{cafe.url}/readyz", timeout=5) for cafe in (flawed, healthy)}
    finally:
        pgreadonly.restore(lab_target)
    for cafe in (flawed, healthy):
        assert orders[cafe].status_code == 503
        assert orders[cafe].json() == {"detail": "database read-only", "dependency": "postgresql"}
    assert ready[flawed].status_code == 200, ready[flawed].text
    assert ready[healthy].status_code == 503
    assert "read-only" in ready[healthy].json()["checks"]["postgresql"]
    wait_until(lambda: requests.get(f"{healthy.url}/readyz", timeout=5).ok, timeout=5)


@lab
def test_cold_cache_crash_answers_500_while_a_key_is_missing(cafes: MakeCafe) -> None:
    flawed = cafes("cold-cache-crash").start_api()
    healthy = cafes().start_api()
    assert requests.get(f"{flawed.url}/api/dashboard", timeout=5).status_code == 500
    empty = requests.get(f"{healthy.url}/api/dashboard", timeout=5)
    assert empty.status_code == 200
    body = empty.json()
    assert (body["current_hour"], body["top5_drinks"], body["recent_orders"]) == (None, [], [])
    flawed.redis.mset(
        {
            f"metrics:hourly:{datetime.now(UTC).hour}": '{"top_drinks": [], "order_count": 0}',
            "metrics:top5": "[]",
            "orders:recent": "[]",
        }
    )
    assert requests.get(f"{flawed.url}/api/dashboard", timeout=5).status_code == 200


# --- orders --------------------------------------------------------------------------------


@lab
def test_raw_order_labels_stores_any_drink_and_labels_metrics_with_it(cafes: MakeCafe) -> None:
    flawed = cafes("raw-order-labels").start_api()
    healthy = cafes().start_api()
    drink = f"mocha-{random.randrange(10**9)}"
    assert post_order(healthy, drink=drink, store="moon").status_code == 422
    created = post_order(flawed, drink=drink, store="moon")
    assert created.status_code == 200, created.text
    assert post_order(flawed, drink=5).status_code == 422, "the types must stay strict"
    with connect_db() as conn:
        stored = conn.execute(
            f"SELECT drink, store FROM {FLAWS_SCHEMA}.orders WHERE drink = %s", (drink,)
        ).fetchall()
    assert stored == [(drink, "moon")]
    metrics = requests.get(f"{flawed.url}/metrics", timeout=5).text
    assert f'orders_created_total{{drink="{drink}",store="moon",version="v1"}} 1.0' in metrics


@lab
def test_blocking_handler_serialises_orders_on_the_event_loop(cafes: MakeCafe) -> None:
    flawed = cafes("blocking-handler").start_api()
    healthy = cafes().start_api()
    took, statuses = {}, {}
    for cafe in (flawed, healthy):
        began = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            statuses[cafe] = list(pool.map(lambda _, c=cafe: post_order(c).status_code, range(20)))
        took[cafe] = time.monotonic() - began
    print(
        f"\nblocking-handler: 20 concurrent orders took {took[flawed]:.2f} s "
        f"({statuses[flawed].count(503)} of them 503: deadlines fire late on a starved loop), "
        f"healthy {took[healthy]:.2f} s"
    )
    assert took[flawed] >= 1.9, "20 orders of 100 ms each must queue on the event loop"
    assert took[healthy] < 1.0 and statuses[healthy] == [200] * 20


@lab
def test_cpu_heavy_handler_spends_cpu_on_every_order(cafes: MakeCafe) -> None:
    flawed = cafes("cpu-heavy-handler").start_api()
    healthy = cafes().start_api()
    spent = {}
    for cafe in (flawed, healthy):
        before = psutil.Process(cafe.api.pid).cpu_times()
        statuses = [post_order(cafe).status_code for _ in range(10)]
        after = psutil.Process(cafe.api.pid).cpu_times()
        spent[cafe] = (after.user + after.system - before.user - before.system) / 10
        assert statuses == [200] * 10
    print(
        f"\ncpu-heavy-handler: {spent[flawed] * 1000:.0f} ms of CPU an order, "
        f"healthy {spent[healthy] * 1000:.0f} ms"
    )
    assert spent[flawed] >= 0.015 and spent[healthy] < spent[flawed] / 3


# --- memory --------------------------------------------------------------------------------


def rss_growth(cafe: SideCafe, requests_sent: int) -> float:
    """MiB the API's resident memory grew by over ``requests_sent`` requests (after warm-up)."""
    process = psutil.Process(cafe.api.pid)
    with requests.Session() as session:
        for _ in range(50):
            session.get(f"{cafe.url}/livez", timeout=5)
        before = process.memory_info().rss
        for _ in range(requests_sent):
            session.get(f"{cafe.url}/livez", timeout=5)
    return (process.memory_info().rss - before) / MIB


@lab
def test_memory_per_request_keeps_100_kib_of_each_request(cafes: MakeCafe) -> None:
    flawed = cafes("memory-per-request").start_api()
    healthy = cafes().start_api()
    sent = 600  # one minute at 10 requests/s
    flawed_growth, healthy_growth = rss_growth(flawed, sent), rss_growth(healthy, sent)
    print(
        f"\nmemory-per-request: {sent} requests grew the API by {flawed_growth:.1f} MiB, "
        f"healthy {healthy_growth:.1f} MiB"
    )
    assert flawed_growth > 0.9 * sent * 100 / 1024
    assert healthy_growth < 5


# --- WebSocket -----------------------------------------------------------------------------


def silent_for(ws: websocket.WebSocket, seconds: float) -> bool:
    ws.settimeout(seconds)
    try:
        ws.recv()
    except websocket.WebSocketTimeoutException:
        return True
    return False


@lab
def test_redis_breaker_never_closes_after_one_blip(cafes: MakeCafe) -> None:
    flawed = cafes("redis-breaker-never-closes").start_api()
    healthy = cafes().start_api()
    for cafe in (flawed, healthy):
        with cafe.down("redis"):
            blip = requests.get(f"{cafe.url}/api/dashboard", timeout=5)
            assert blip.status_code == 503 and blip.json()["dependency"] == "redis"
    time.sleep(1)
    assert requests.get(f"{healthy.url}/api/dashboard", timeout=5).status_code == 200
    assert requests.get(f"{healthy.url}/readyz", timeout=5).status_code == 200
    after = requests.get(f"{flawed.url}/api/dashboard", timeout=5)
    assert after.status_code == 503 and after.json()["dependency"] == "redis", "Redis is back"
    assert requests.get(f"{flawed.url}/readyz", timeout=5).status_code == 503
    assert flawed.redis.ping(), "Redis answers; the flawed API no longer asks it"


@lab
def test_websocket_stops_after_redis_blip_goes_silent_for_good(cafes: MakeCafe) -> None:
    flawed = cafes("websocket-stops-after-redis-blip").start_api()
    healthy = cafes().start_api()
    sockets = {
        cafe: websocket.create_connection(cafe.ws_url, timeout=5) for cafe in (flawed, healthy)
    }
    try:
        for ws in sockets.values():
            ws.recv()  # on connect
            ws.recv()  # a periodic push
        for cafe in (flawed, healthy):
            with cafe.down("redis"):
                time.sleep(1.5)  # a broadcast falls in the blip
        sockets[healthy].settimeout(5)
        assert json.loads(sockets[healthy].recv())["server_timestamp"]
        assert silent_for(sockets[flawed], 3) and sockets[flawed].connected
        late = websocket.create_connection(flawed.ws_url, timeout=5)
        try:
            assert json.loads(late.recv())["server_timestamp"], "no push on connect"
            assert silent_for(late, 3)
        finally:
            late.close()
    finally:
        for ws in sockets.values():
            ws.close()
    assert "the broadcaster stops" in flawed.log("api")


async def push_spread(url: str, sockets: int, window: float) -> float:
    """Seconds between the first and the last of ``sockets`` receiving the same broadcast."""
    arrivals: dict[str, list[float]] = defaultdict(list)
    async with aiohttp.ClientSession() as session:
        connected = [await session.ws_connect(url) for _ in range(sockets)]

        async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                arrivals[json.loads(message.data)["server_timestamp"]].append(time.monotonic())

        listeners = [asyncio.create_task(listen(ws)) for ws in connected]
        await asyncio.sleep(window)
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in connected))
    broadcasts = [times for times in arrivals.values() if len(times) == sockets]
    assert broadcasts, f"no broadcast reached all {sockets} sockets in {window} s"
    return max(max(times) - min(times) for times in broadcasts)


@lab
def test_serial_broadcast_delays_the_last_socket_by_each_send(cafes: MakeCafe) -> None:
    flawed = cafes("serial-broadcast", DASHBOARD_UPDATE_INTERVAL="2").start_api()
    healthy = cafes(DASHBOARD_UPDATE_INTERVAL="2").start_api()
    flawed_lag = asyncio.run(push_spread(flawed.ws_url, 100, window=8))
    healthy_lag = asyncio.run(push_spread(healthy.ws_url, 100, window=5))
    print(
        f"\nserial-broadcast: one push reached 100 sockets over {flawed_lag * 1000:.0f} ms, "
        f"healthy {healthy_lag * 1000:.0f} ms"
    )
    assert flawed_lag > 1.0, "15 ms per send, in turn, over 100 sockets"
    assert healthy_lag < 0.5


# --- aggregator ----------------------------------------------------------------------------

OLD_CACHE = {
    "metrics:top5": '["old"]',
    "orders:recent": '[{"id": -1}]',
    "aggregator:last_success": "1.0",
}


@lab
def test_cache_written_key_by_key_leaves_half_a_cache_when_killed(cafes: MakeCafe) -> None:
    hourly = f"metrics:hourly:{datetime.now(UTC).hour}"
    old = {**OLD_CACHE, hourly: '{"order_count": -1}'}
    left = {}
    for flaws in ("cache-written-key-by-key", ""):
        cafe = cafes(flaws)
        cafe.redis.mset(old)
        aggregator = cafe.start_aggregator(AGGREGATOR_HOLD_SECONDS="30")
        wait_until(lambda cafe=cafe: cafe.aggregator_metric("aggregator_pass_in_progress"), 10)
        if flaws:  # it holds once hourly and top5 are written
            wait_until(lambda cafe=cafe: cafe.redis.get("metrics:top5") != b'["old"]', 10)
        else:
            time.sleep(0.5)
        aggregator.send_signal(signal.SIGKILL)
        aggregator.wait(10)
        left[flaws] = {key: cafe.redis.get(key).decode() for key in old}
    half = left["cache-written-key-by-key"]
    assert half[hourly] != old[hourly] and half["metrics:top5"] != old["metrics:top5"]
    assert half["orders:recent"] == old["orders:recent"]
    assert half["aggregator:last_success"] == old["aggregator:last_success"]
    assert left[""] == old, "the healthy pass wrote nothing before it was killed"


@lab
def test_cache_cleared_before_write_empties_a_full_redis(cafes: MakeCafe) -> None:
    """Redis full (maxmemory under its use, noeviction): every SET is refused, a DEL is not.
    The healthy pass fails whole and leaves the previous cache; the flawed one empties it."""
    hourly = f"metrics:hourly:{datetime.now(UTC).hour}"
    old = {**OLD_CACHE, hourly: '{"order_count": -1}'}
    left = {}
    for flaws in ("cache-cleared-before-write", ""):
        cafe = cafes(flaws)
        cafe.redis.mset(old)
        cafe.redis.config_set("maxmemory-policy", "noeviction")
        cafe.redis.config_set("maxmemory", 1)
        cafe.start_aggregator(AGGREGATOR_HOLD_SECONDS="0", CONNECTION_MAX_RETRIES="0")
        wait_until(
            lambda cafe=cafe: cafe.aggregator_metric('aggregator_passes_total{result="failure"}'),
            15,
        )
        cafe.stop_aggregator()
        left[flaws] = {key: cafe.redis.get(key) for key in old}
    assert set(left["cache-cleared-before-write"].values()) == {None}, "the dashboard emptied"
    assert {key: value.decode() for key, value in left[""].items()} == old


@lab
def test_short_cache_ttl_empties_the_dashboard_when_the_aggregator_stops(
    cafes: MakeCafe,
) -> None:
    flawed = cafes("short-cache-ttl").start_api()
    healthy = cafes().start_api()
    for cafe in (flawed, healthy):
        cafe.start_aggregator()
        wait_until(
            lambda cafe=cafe: cafe.aggregator_metric('aggregator_passes_total{result="success"}'),
            10,
        )
        cafe.stop_aggregator()
    hourly = f"metrics:hourly:{datetime.now(UTC).hour}"
    assert 25 * 3600 - 30 <= healthy.redis.ttl(hourly)
    assert healthy.redis.ttl("metrics:top5") == -1

    def dashboard(cafe: SideCafe) -> dict:
        answer = requests.get(f"{cafe.url}/api/dashboard", timeout=5)
        assert answer.status_code == 200
        return answer.json()

    wait_until(lambda: dashboard(flawed)["current_hour"] is None, timeout=5)
    gone = dashboard(flawed)
    assert (gone["top5_drinks"], gone["recent_orders"]) == ([], [])
    assert dashboard(healthy)["current_hour"] is not None, "the stale cache must be served"


@lab
def test_slow_aggregation_passes_every_three_intervals(cafes: MakeCafe) -> None:
    flawed, healthy = cafes("slow-aggregation"), cafes()
    for cafe in (flawed, healthy):
        cafe.start_aggregator()
    time.sleep(4.5)
    passes = {
        cafe: cafe.aggregator_metric('aggregator_passes_total{result="success"}')
        for cafe in (flawed, healthy)
    }
    assert passes[flawed] <= 2 and passes[healthy] >= 4, passes
    assert "aggregating every 3.0s" in flawed.log("aggregator")


def share_locks_held_by_the_aggregator() -> int:
    with connect_db() as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.relation = %s::regclass AND l.mode = 'ShareLock' AND l.granted "
            "AND a.application_name = 'refcafe-aggregator'",
            (f"{FLAWS_SCHEMA}.orders",),
        ).fetchone()
    return count


@lab
def test_table_locking_aggregation_makes_orders_wait_for_the_pass(cafes: MakeCafe) -> None:
    cafe = cafes(DEPENDENCY_TIMEOUT="5").start_api()  # orders wait out the lock, no 503
    took, locks = {}, {}
    for flaws in ("table-locking-aggregation", ""):
        aggregator = cafe.start_aggregator(
            CAFE_FLAWS=flaws, AGGREGATOR_HOLD_SECONDS="2", AGGREGATOR_INTERVAL="5"
        )
        wait_until(lambda: cafe.aggregator_metric("aggregator_pass_in_progress"), 10)
        time.sleep(0.3)
        locks[flaws] = share_locks_held_by_the_aggregator()
        began = time.monotonic()
        assert post_order(cafe).status_code == 200
        took[flaws] = time.monotonic() - began
        aggregator.kill()
        aggregator.wait(10)
    assert locks == {"table-locking-aggregation": 1, "": 0}
    assert took["table-locking-aggregation"] >= 1.0, took
    assert took[""] < 0.5, took


# --- aggregator-loads-every-order: 100,000 orders in a schema of their own ------------------


@pytest.fixture(scope="module")
def big_schema() -> Iterator[str]:
    """BIG_SCHEMA with BIG_ROWS orders over the last 30 days (dropped afterwards)."""
    migrate(BIG_SCHEMA)
    now = datetime.now(UTC).replace(tzinfo=None)
    drinks, stores = ("cappuccino", "americano", "latte", "mocha"), ("uptown", "central")
    try:
        with connect_db() as conn, conn.cursor() as cursor:
            with cursor.copy(
                f"COPY {BIG_SCHEMA}.orders (drink, store, price, timestamp) FROM STDIN"
            ) as copy:
                for _ in range(BIG_ROWS):
                    moment = now - timedelta(seconds=random.uniform(60, 30 * 86400))
                    copy.write_row((random.choice(drinks), random.choice(stores), 4.5, moment))
            cursor.execute(f"ANALYZE {BIG_SCHEMA}.orders")
        yield BIG_SCHEMA
    finally:
        drop_schema(BIG_SCHEMA)


@lab
def test_aggregator_loads_every_order_computes_the_same_figures(big_schema: str) -> None:
    now = datetime.now(UTC)
    with connect_db() as conn:
        assert compute(conn, big_schema, now=now, load_every_order=True) == compute(
            conn, big_schema, now=now
        )


def memory_mib(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


@lab
def test_aggregator_loads_every_order_grows_with_the_table(
    cafes: MakeCafe, big_schema: str
) -> None:
    memory, seconds = {}, {}
    for flaws in ("aggregator-loads-every-order", ""):
        cafe = cafes(flaws, POSTGRES_SCHEMA=big_schema)
        aggregator = cafe.start_aggregator(AGGREGATOR_INTERVAL="30")
        wait_until(
            lambda cafe=cafe: cafe.aggregator_metric('aggregator_passes_total{result="success"}'),
            20,
        )
        memory[flaws] = memory_mib(aggregator.pid)
        seconds[flaws] = cafe.aggregator_metric("aggregator_pass_duration_seconds_sum")
        cafe.stop_aggregator()
    flawed, healthy = memory["aggregator-loads-every-order"], memory[""]
    print(
        f"\naggregator-loads-every-order over {BIG_ROWS} orders: peak RSS {flawed['VmHWM']:.1f} "
        f"MiB (healthy {healthy['VmHWM']:.1f}), RSS after the pass {flawed['VmRSS']:.1f} MiB "
        f"(healthy {healthy['VmRSS']:.1f}), pass {seconds['aggregator-loads-every-order']:.2f} s "
        f"(healthy {seconds['']:.2f} s)"
    )
    assert flawed["VmHWM"] - healthy["VmHWM"] > 16
    assert seconds["aggregator-loads-every-order"] > seconds[""]
