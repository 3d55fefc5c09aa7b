#!/bin/sh
#  run.sh - SPEC section 7's lookup ratios and trade numbers, in one run.
#
#  Starts on free loopback ports:
#    bare_h2o                         constant JSON body (upper baseline)
#    chain serve + proxy + echo       h2o -> DEALER -> zmq_proxy -> echo
#    broker, catalog, order replica 1, a gateway with --cache-size 8 and
#    a second gateway with --cache-size 0 (the real system)
#  then runs wrk -t1 against each in turn (a WARMUP run, then DURATION
#  seconds measured) and prints requests/s, p50, p99, the CPU time the
#  server side's processes spent per answer (user + system, all threads;
#  steadier than requests/s on a noisy machine), and the ratios:
#    cached gateway / bare h2o      target >= 0.80
#    uncached gateway / chain       target >= 0.70
#  and trades (POST /orders through the cached gateway, buy and sell of 1
#  share over the ten stocks, stores at their default --sync=data) at
#  TRADE_CONNECTIONS: durable trades/s (2xx answers) and p50, against
#  >= 10k/s at 64 connections and p50 < 1 ms at 5.
#
#  A benchmark, not a test: it prints numbers and fails only if something
#  does not start. Builds nothing: expects build/bin (make build) and
#  build/bench (bare_h2o, chain). Everything it starts is killed at exit.
#
#  Environment: BAZAAR_BIN (default build/bin), BENCH_BIN (build/bench),
#  DURATION seconds per measured run (5), WARMUP seconds (1), CONNECTIONS
#  for lookups (64), TRADE_CONNECTIONS ("64 5"; "" for none), THREADS (wrk threads, 1),
#  ROUNDS (1): repeat the four lookup rows and report the median of the
#  per-round ratios (this machine swings +-25% from one run to the next),
#  KEEP=1 keeps the temp dir (logs, stores, wrk output).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BAZAAR_BIN:-$HERE/../../build/bin}
BENCH_BIN=${BENCH_BIN:-$HERE/../../build/bench}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-64}
TRADE_CONNECTIONS=${TRADE_CONNECTIONS-64 5}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-1}

for exe in "$BIN/bazaar-broker" "$BIN/bazaar-catalog" "$BIN/bazaar-order" \
           "$BIN/bazaar-gateway" "$BENCH_BIN/bare_h2o" "$BENCH_BIN/chain"; do
    [ -x "$exe" ] || { echo "bench: no $exe (make build bench)" >&2; exit 1; }
done
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk (Debian package)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y -q wrk >/dev/null 2>&1 \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q wrk >/dev/null; } \
        || { echo "bench: need wrk" >&2; exit 1; }
fi

TMP=$(mktemp -d /tmp/bazaar-bench.XXXXXX)
PIDS=""
WRK_PID=""
cleanup () {
    for pid in $WRK_PID $PIDS; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in $PIDS; do kill -9 "$pid" 2>/dev/null || true; done
    if [ "${KEEP:-}" = 1 ]; then echo "bench: files in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start () {   # start NAME ARGS...: run in the background, log to $TMP/NAME.log
    name=$1; shift
    "$@" >"$TMP/$name.log" 2>&1 &
    PIDS="$PIDS $!"
    LAST_PID=$!
}

wait_status () {   # wait_status STATUS URL: until URL answers STATUS, at most 20 s
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "$2" || true)" = "$1" ]; do
        i=$((i + 1))
        [ $i -le 200 ] || { echo "bench: $2 never answered $1 (logs: KEEP=1)" >&2; exit 1; }
        sleep 0.1
    done
}

#  Eleven free loopback ports (bound, read, released: a tiny race only).
set -- $(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(11)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
L=tcp://127.0.0.1
BARE=http://127.0.0.1:$1
CHAIN=http://127.0.0.1:$2
CACHED=http://127.0.0.1:$3
UNCACHED=http://127.0.0.1:$4

#  *_PIDS: the processes whose CPU time a row charges to the server side.
start bare "$BENCH_BIN/bare_h2o" "$1"
BARE_PIDS=$LAST_PID
start chain-proxy "$BENCH_BIN/chain" proxy "$L:$5" "$L:$6"
CHAIN_PIDS=$LAST_PID
start chain-echo "$BENCH_BIN/chain" echo "$L:$6"
CHAIN_PIDS="$CHAIN_PIDS $LAST_PID"
start chain-serve "$BENCH_BIN/chain" serve "$2" "$L:$5"
CHAIN_PIDS="$CHAIN_PIDS $LAST_PID"
start broker "$BIN/bazaar-broker" --bind "$L:$7" --tap "$L:$8" -q
SYSTEM_PIDS=$LAST_PID
start catalog "$BIN/bazaar-catalog" --broker "$L:$7" --pub "$L:$9" --data "$TMP/data" -q
SYSTEM_PIDS="$SYSTEM_PIDS $LAST_PID"
start order "$BIN/bazaar-order" --id 1 --broker "$L:$7" --pub "$L:${10}" --rep "$L:${11}" \
    --data "$TMP/data" -q
SYSTEM_PIDS="$SYSTEM_PIDS $LAST_PID"
start gateway-8 "$BIN/bazaar-gateway" --port "$3" --broker "$L:$7" --catalog-pub "$L:$9" \
    --cache-size 8 -q
CACHED_PIDS="$SYSTEM_PIDS $LAST_PID"
start gateway-0 "$BIN/bazaar-gateway" --port "$4" --broker "$L:$7" --catalog-pub "$L:$9" \
    --cache-size 0 -q
UNCACHED_PIDS="$SYSTEM_PIDS $LAST_PID"
for url in "$BARE/" "$CHAIN/" "$CACHED/stocks/apple" "$UNCACHED/stocks/apple"; do
    wait_status 200 "$url"
done
wait_status 404 "$CACHED/orders/0"      #  404, not 503: an order replica answers

#  POST /orders: stock k gets sell, buy, sell, ... so quantities stay near 1000.
cat >"$TMP/trade.lua" <<'EOF'
local names = {"apple", "tesla", "ford", "amazon", "nvidia",
               "intel", "meta", "nike", "amc", "gamestop"}
local headers = {["Content-Type"] = "application/json"}
local n = 0
request = function ()
    n = n + 1
    local side = (math.floor(n / 10) % 2 == 0) and "sell" or "buy"
    local body = '{"name":"' .. names[n % 10 + 1] .. '","type":"' .. side .. '","quantity":1}'
    return wrk.format("POST", "/orders", headers, body)
end
EOF

#  bounded SECONDS OUT CMD...: runs CMD for at most SECONDS, output to OUT,
#  in the background so that a signal stops the script (and it) at once.
bounded () {
    secs=$1 to=$2; shift 2
    timeout "$secs" "$@" >"$to" &
    WRK_PID=$!
    wait "$WRK_PID"
    WRK_PID=""
}

#  cpu_ticks PIDS...: user + system CPU time of the processes, in clock ticks.
cpu_ticks () {
    for pid in "$@"; do cat "/proc/$pid/stat"; done | sed 's/^.*) //' \
        | awk '{ t += $12 + $13 } END { print t + 0 }'
}

#  measure NAME URL CONNECTIONS "PIDS" [wrk options]: a warm-up, then a
#  measured run; sets RPS (2xx answers per second), P50, P99 (as wrk
#  prints them, over all answers), P50_MS, ERRORS (non-2xx answers plus
#  wrk's socket errors, or "-") and CPU: microseconds of CPU the server
#  side (PIDS) spent per answer.
measure () {
    name=$1 url=$2 conns=$3 pids=$4; shift 4
    bounded $((WARMUP + 10)) /dev/null wrk -t"$THREADS" -c"$conns" -d"${WARMUP}s" "$@" "$url"
    out=$TMP/wrk-$name.txt
    ticks_before=$(cpu_ticks $pids)
    bounded $((DURATION + 10)) "$out" \
        wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency "$@" "$url"
    ticks=$(($(cpu_ticks $pids) - ticks_before))
    set -- $(awk -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" '
        function ms(v) {
            if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v
        }
        / requests in / { n = $1; t = $4; sub(/,$/, "", t); secs = ms(t) / 1000 }
        /^ *Non-2xx/ { bad += $NF }
        /^ *Socket errors:/ { for (i = 4; i <= NF; i += 2) { v = $i; sub(/,$/, "", v); sock += v } }
        $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
        END { printf "%.0f %s %s %.3f %d %.1f\n", (secs > 0 ? (n - bad) / secs : 0), p50, p99,
                     ms(p50), bad + sock, (n > 0 ? ticks * 1e6 / hz / n : 0) }
    ' "$out")
    RPS=$1 P50=$2 P99=$3 P50_MS=$4 ERRORS=$5 CPU=$6
    [ "$ERRORS" != 0 ] || ERRORS=-
}

HEAD='%-34s %10s %10s %10s %10s %8s\n'
row () {   # row LABEL: prints the last measurement
    printf "$HEAD" "$1" "$RPS" "$P50" "$P99" "$CPU" "$ERRORS"
}

#  ratio LABEL TARGET A/B...: prints the median of the per-round ratios
#  (and each ratio when there are several rounds) against the target.
ratio () {
    label=$1 target=$2; shift 2
    printf '%s\n' "$@" | sort -g | awk -v l="$label" -v t="$target" '
        { v[NR] = $1; all = all sprintf(" %.2f", $1) }
        END {
            r = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%-34s %10.3f   target >= %.2f: %s%s\n", l, r, t,
                   (r >= t ? "met" : "NOT met"), (NR > 1 ? "  (median; sorted:" all ")" : "")
        }'
}

div () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", (b > 0 ? a / b : 0) }'; }

echo "bench: wrk -t$THREADS, ${WARMUP}s warm-up + ${DURATION}s per row, $ROUNDS round(s)," \
     "$(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
printf "$HEAD" "GET, $CONNECTIONS connections" "requests/s" "p50" "p99" "cpu us/req" "errors"
#  Each ratio's two sides run back to back: the machine drifts.
CACHED_RATIOS="" UNCACHED_RATIOS="" round=1
while [ "$round" -le "$ROUNDS" ]; do
    [ "$ROUNDS" -eq 1 ] && at="" || at=" #$round"
    measure bare "$BARE/stocks/apple" "$CONNECTIONS" "$BARE_PIDS"
    BARE_RPS=$RPS; row "bare h2o, constant body$at"
    measure cached "$CACHED/stocks/apple" "$CONNECTIONS" "$CACHED_PIDS"
    row "gateway --cache-size 8$at"
    CACHED_RATIOS="$CACHED_RATIOS $(div "$RPS" "$BARE_RPS")"
    measure chain "$CHAIN/stocks/apple" "$CONNECTIONS" "$CHAIN_PIDS"
    CHAIN_RPS=$RPS; row "chain h2o>DEALER>proxy>echo$at"
    measure uncached "$UNCACHED/stocks/apple" "$CONNECTIONS" "$UNCACHED_PIDS"
    row "gateway --cache-size 0$at"
    UNCACHED_RATIOS="$UNCACHED_RATIOS $(div "$RPS" "$CHAIN_RPS")"
    round=$((round + 1))
done
curl -s "$CACHED/metrics" | awk '
    $1 == "bazaar_cache_hits_total" { h = $2 } $1 == "bazaar_cache_misses_total" { m = $2 }
    END { printf "(gateway --cache-size 8 so far: %d cache hits, %d misses)\n", h, m }'
[ -z "$TRADE_CONNECTIONS" ] || { echo
printf "$HEAD" "POST /orders (trades)" "trades/s" "p50" "p99" "cpu us/req" "errors"; }
for conns in $TRADE_CONNECTIONS; do
    measure "trades-$conns" "$CACHED/orders" "$conns" "$CACHED_PIDS" -s "$TMP/trade.lua"
    row "$conns connections"
    case $conns in
        64) TRADES_64=$RPS ;;
        5) P50_5=$P50_MS ;;
    esac
done
echo
ratio "cached gateway / bare h2o" 0.80 $CACHED_RATIOS
ratio "uncached gateway / chain" 0.70 $UNCACHED_RATIOS
[ -z "${TRADES_64:-}" ] || awk -v r="$TRADES_64" 'BEGIN {
    printf "%-34s %10d   target >= 10000: %s\n", "durable trades/s, 64 connections", r,
           (r >= 10000 ? "met" : "NOT met") }'
[ -z "${P50_5:-}" ] || awk -v p="$P50_5" 'BEGIN {
    printf "%-34s %10.2f   target < 1 ms: %s\n", "trade p50 ms, 5 connections", p,
           (p < 1 ? "met" : "NOT met") }'
