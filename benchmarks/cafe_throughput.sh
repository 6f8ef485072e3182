#!/bin/sh
# Orders/s and P99 of POST /api/v1/order under wrk (target: >= 500 orders/s, P99 <= 100 ms).
#
#   benchmarks/cafe_throughput.sh [URL] [DURATION] [CONNECTIONS] [THREADS]
#
# Defaults: http://127.0.0.1:8005, 30s, 50 connections, 2 threads. Loopback only: the URL
# must point at 127.0.0.1 or localhost. Each order is valid (contract drinks, stores,
# prices), so every acknowledged request is a committed row.
set -eu

URL="${1:-http://127.0.0.1:8005}"
DURATION="${2:-30s}"
CONNECTIONS="${3:-50}"
THREADS="${4:-2}"

case "$URL" in
    http://127.0.0.1:*|http://localhost:*) ;;
    *) echo "cafe_throughput: $URL is not on loopback; point it at 127.0.0.1" >&2; exit 2 ;;
esac
command -v wrk >/dev/null || { echo "cafe_throughput: wrk is missing: apt-get install wrk" >&2; exit 2; }
curl -fsS -m 5 "$URL/readyz" >/dev/null || {
    echo "cafe_throughput: $URL/readyz is not 200: start the lab first" >&2; exit 1; }

SCRIPT="$(mktemp --suffix=.lua)"
OUT="$(mktemp)"
trap 'rm -f "$SCRIPT" "$OUT"' EXIT

cat >"$SCRIPT" <<'LUA'
local drinks = {"cappuccino", "americano", "latte"}
local stores = {"uptown", "downtown", "central", "southend"}

request = function()
  local body = string.format(
    '{"drink":"%s","store":"%s","price":%.2f,"timestamp":"%s"}',
    drinks[math.random(#drinks)], stores[math.random(#stores)],
    math.random(300, 650) / 100, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format("POST", "/api/v1/order", {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout
  io.write(string.format("orders/s: %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50 ms: %.1f\n", latency:percentile(50) / 1000))
  io.write(string.format("p99 ms: %.1f\n", latency:percentile(99) / 1000))
  io.write(string.format("requests: %d, errors (non-2xx, socket): %d\n", summary.requests, errors))
end
LUA

wrk --latency -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" -s "$SCRIPT" "$URL" >"$OUT"
cat "$OUT"
awk '/^orders\/s:/ {rate=$2} /^p99 ms:/ {p99=$3}
     END {verdict = (rate >= 500 && p99 <= 100) ? "met" : "NOT met";
          printf "target (>= 500 orders/s, P99 <= 100 ms): %s\n", verdict}' "$OUT"
