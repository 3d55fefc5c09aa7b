#!/bin/sh
#  bench-cache.sh - how much the gateway's cache buys: GET /stocks/apple
#  under wrk with --cache-size 8 and with --cache-size 0, on loopback.
#
#  A benchmark, not a test: it prints numbers and fails only if something
#  does not start. Every run is bounded in time.
#
#  Environment: BAZAAR_BIN (default build/bin), DURATION seconds per run
#  (default 5), CONNECTIONS (64), THREADS (wrk threads, 1), WARMUP seconds
#  (1), KEEP=1 keeps the temp dir with the logs.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BAZAAR_BIN:-$HERE/../build/bin}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-1}
PATH_UNDER_TEST=/stocks/apple

for exe in bazaar-broker bazaar-catalog bazaar-gateway; do
    [ -x "$BIN/$exe" ] || { echo "bench-cache: no $BIN/$exe (run make build)" >&2; exit 1; }
done
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench-cache: installing wrk (Debian package)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y -q wrk >/dev/null || { echo "bench-cache: need wrk" >&2; exit 1; }
fi

TMP=$(mktemp -d /tmp/bazaar-bench-cache.XXXXXX)
PIDS=""
cleanup () {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in $PIDS; do kill -9 "$pid" 2>/dev/null || true; done
    if [ "${KEEP:-}" = 1 ]; then echo "bench-cache: logs in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

#  Five free loopback ports: broker, broker tap, catalog PUB, HTTP, catalog REP.
set -- $(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
BROKER=tcp://127.0.0.1:$1
TAP=tcp://127.0.0.1:$2
PUB=tcp://127.0.0.1:$3
HTTP_PORT=$4
REP=tcp://127.0.0.1:$5
URL=http://127.0.0.1:$HTTP_PORT

start () {   # start NAME ARGS...: run in the background, log to $TMP/NAME.log
    name=$1; shift
    "$@" >"$TMP/$name.log" 2>&1 &
    PIDS="$PIDS $!"
    LAST_PID=$!
}

wait_ok () {   # wait_ok URL: until it answers 200, at most 20 s
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ]; do
        i=$((i + 1))
        [ $i -le 200 ] || { echo "bench-cache: $1 never answered 200" >&2; exit 1; }
        sleep 0.1
    done
}

start broker "$BIN/bazaar-broker" --bind "$BROKER" --tap "$TAP" -q
start catalog "$BIN/bazaar-catalog" --broker "$BROKER" --pub "$PUB" --rep "$REP" --data "$TMP/data" -q

#  run SIZE: one gateway with --cache-size SIZE under wrk; sets RPS, AVG,
#  P50, P99 and HITS.
run () {
    start "gateway-$1" "$BIN/bazaar-gateway" --port "$HTTP_PORT" --broker "$BROKER" \
        --catalog-pub "$PUB" --cache-size "$1" -q
    gateway_pid=$LAST_PID
    wait_ok "$URL$PATH_UNDER_TEST"
    timeout $((WARMUP + 10)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
        "$URL$PATH_UNDER_TEST" >/dev/null
    timeout $((DURATION + 10)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        "$URL$PATH_UNDER_TEST" >"$TMP/wrk-$1.txt"
    HITS=$(curl -s "$URL/metrics" | awk '$1 == "bazaar_cache_hits_total" { print $2 }')
    kill "$gateway_pid"
    i=0
    while kill -0 "$gateway_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/wrk-$1.txt")
    AVG=$(awk '$1 == "Latency" { print $2; exit }' "$TMP/wrk-$1.txt")
    P50=$(awk '$1 == "50%" { print $2 }' "$TMP/wrk-$1.txt")
    P99=$(awk '$1 == "99%" { print $2 }' "$TMP/wrk-$1.txt")
    ERRORS=$(awk '/Non-2xx|Socket errors/ { print }' "$TMP/wrk-$1.txt")
}

echo "GET $PATH_UNDER_TEST, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $(nproc) cores"
printf '%-16s %12s %10s %10s %10s %12s\n' "gateway" "requests/s" "avg" "p50" "p99" "cache hits"
run 8
CACHED_RPS=$RPS
printf '%-16s %12s %10s %10s %10s %12s\n' "--cache-size 8" "$RPS" "$AVG" "$P50" "$P99" "$HITS"
[ -z "$ERRORS" ] || echo "  $ERRORS"
run 0
UNCACHED_RPS=$RPS
printf '%-16s %12s %10s %10s %10s %12s\n' "--cache-size 0" "$RPS" "$AVG" "$P50" "$P99" "$HITS"
[ -z "$ERRORS" ] || echo "  $ERRORS"
awk -v a="$CACHED_RPS" -v b="$UNCACHED_RPS" \
    'BEGIN { if (b > 0) printf "cached / uncached requests/s: %.2fx\n", a / b }'
