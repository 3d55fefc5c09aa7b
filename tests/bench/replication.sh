#!/bin/sh
#  replication.sh - SPEC section 7's replication numbers, in one run.
#
#  Starts on free loopback ports a broker, the catalog, order replicas 1, 2
#  and 3 (replica 3, the highest id, leads) and a gateway (--cache-size 8),
#  all on one fresh data dir that every later restart reuses, then:
#   1. trades (POST /orders, wrk and run.sh's trade.lua) at TRADE_CONNECTIONS
#      with the three replicas' consensus (--members 1,2,3: a majority
#      commits): trades/s (2xx answers), p50, p99, CPU of all the server
#      side's processes per answer; SIGTERM the catalog and the replicas,
#      start replica 1 alone (--members 1, a majority of one, on a data dir
#      of its own) and measure the same rows; ratio three/alone at 64
#      connections, reported (SPEC section 7 sets no target for it now:
#      trades.sh judges the three replicas against the bus limit);
#   2. fdatasyncs per trade of the catalog and of each replica in each of
#      those two runs, from the lines they log at SIGTERM ("N trades
#      written in M batches"): M / N, N being what that process committed
#      in the run (warm-ups included);
#   3. catch-up: SIGTERM replica 1, place CATCHUP (100000) trades (wrk at
#      64 connections until GET /orders/<last> answers 200), start replica
#      1 and time it until GET /status shows its position at the leader's:
#      target < 2000 ms.
#
#  A benchmark, not a test: it prints numbers and fails only if something
#  does not start or answer. Builds nothing: expects build/bin (make build).
#  Everything it starts is killed at exit. Failover (leader and catalog
#  kill -9) is failover.sh's.
#
#  Environment: BAZAAR_BIN (default build/bin), DURATION seconds per
#  measured row (5), WARMUP seconds (1), TRADE_CONNECTIONS ("1 5 64"),
#  THREADS (wrk threads, 1), CATCHUP (100000), KEEP=1 keeps
#  the temp dir (logs of every process start, data, wrk output).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TRADE_CONNECTIONS=${TRADE_CONNECTIONS:-1 5 64}
CATCHUP=${CATCHUP:-100000}

need "$BIN/bazaar-broker" "$BIN/bazaar-catalog" "$BIN/bazaar-order" "$BIN/bazaar-gateway"
need_wrk
bench_tmp
system_ports
DATA=$TMP/data

#  order_count: how many orders exist (GET /orders/N answers 200 below it).
order_count () {
    lo=0 hi=1
    while [ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/orders/$((hi - 1))")" = 200 ]; do
        lo=$hi hi=$((hi * 2))
    done
    while [ $((hi - lo)) -gt 1 ]; do   # /orders/(lo-1) is 200, /orders/(hi-1) is not
        mid=$(((lo + hi) / 2))
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/orders/$((mid - 1))")" = 200 ]
        then lo=$mid; else hi=$mid; fi
    done
    echo "$lo"
}
#  syncs NAME LOG: appends NAME's exit line, as "NAME trades syncs", to $TMP/syncs.txt.
syncs () {
    set -- "$1" "$(sed -n 's/.*: \([0-9]*\) trades written in \([0-9]*\) batches.*/\1 \2/p' "$2" \
        | tail -n 1)"
    echo "$1 ${2:-- -}" >>"$TMP/syncs.txt"
}
#  stop_services TAG MEMBERS: SIGTERM catalog and replicas, collect their exit lines.
stop_services () {
    stop "$CATALOG_PID" "$ORDER_PID_1" "$ORDER_PID_2" "$ORDER_PID_3"
    syncs "catalog, $1" "$TMP/catalog.$1.log"
    for id in $(echo "$2" | tr , ' '); do syncs "replica $id, $1" "$TMP/order-$id.$1.log"; done
}
#  positions: "replica-1-position leader-position" from GET /status.
positions () {
    curl -s -m 2 "$GW/status" | /usr/bin/python3 -c '
import json, sys
rows = [p for p in json.load(sys.stdin)["processes"] if p["service"] == "order"]
mine = [p["position"] for p in rows if p["replica_id"] == 1 and p["registered"]]
lead = [p["position"] for p in rows if p["role"] == "leader"]
print(mine[0] if mine else -1, lead[0] if lead else 0)' 2>/dev/null || echo "-1 0"
}

start_broker broker
start_gateway gateway "$GW" 8
GATEWAY_PID=$LAST_PID
up 1,2,3 three
wait_status 200 "$GW/stocks/apple"
trade_lua

echo "bench: replication, wrk -t$THREADS, ${WARMUP}s warm-up + ${DURATION}s per row," \
     "$(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(three replicas on one data dir; then replica 1 alone, --members 1, on its own)"
printf "$HEAD" "POST /orders" "trades/s" "p50" "p99" "cpu us/req" "errors"
: >"$TMP/syncs.txt"
for run in three alone; do
    members=1,2,3
    if [ $run = alone ]; then
        members=1 DATA=$TMP/data-alone
        up 1 alone
    fi
    for conns in $TRADE_CONNECTIONS; do
        measure "trades-$run-$conns" "$GW/orders" "$conns" "$SERVER_PIDS" -s "$TMP/trade.lua"
        row "$run ($members), $conns connections"
        [ "$conns" != 64 ] || eval "RPS_$run=\$RPS"
    done
    stop_services $run $members
done
DATA=$TMP/data

echo
printf '%-34s %10s %10s %12s\n' "fdatasyncs per trade (at SIGTERM)" "trades" "syncs" "syncs/trade"
awk '{ n = $(NF - 1); m = $NF; $(NF - 1) = $NF = ""; sub(/ +$/, "")
       if (n == "-") printf "%-34s %10s %10s %12s\n", $0, "-", "-", "no exit line"
       else printf "%-34s %10d %10d %12.3f\n", $0, n, m, (n > 0 ? m / n : 0) }' "$TMP/syncs.txt"

#  3. Catch-up: replica 1 misses CATCHUP trades.
up 1,2,3 catchup-base
echo
wait_trade
stop "$ORDER_PID_1"
base=$(order_count)
last=$((base + CATCHUP - 1))
timeout 90 wrk -t"$THREADS" -c64 -d80s -s "$TMP/trade.lua" "$GW/orders" >"$TMP/wrk-catchup.txt" &
WRK_PID=$!
placed=$(date +%s.%N)
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/orders/$last" || true)" = 200 ]; do
    i=$((i + 1))
    [ $i -le 600 ] || { echo "bench: order $last never placed (logs: KEEP=1)" >&2; exit 1; }
    sleep 0.1
done
placed=$(since "$placed")
kill "$WRK_PID" 2>/dev/null || true
wait "$WRK_PID" 2>/dev/null || true
WRK_PID=""
started=$(now_ns)
start_replica 1 1,2,3 catchup
i=0
until set -- $(positions) && [ "$1" -ge "$2" ] && [ "$2" -gt "$base" ]; do
    i=$((i + 1))
    [ $i -le 300 ] || { echo "bench: replica 1 never caught up (logs: KEEP=1)" >&2; exit 1; }
    sleep 0.02
done
caught_ms=$(ms_since "$started")
caught=$(($1 - base))
echo "catch-up: replica 1 stopped at $base orders, $CATCHUP trades placed in ${placed}s," \
     "restarted: at the leader's position ($1) after $caught_ms ms"

echo
awk -v r="$(div "${RPS_three:-0}" "${RPS_alone:-0}")" 'BEGIN {
    printf "%-34s %10.3f   (reported)\n", "trades/s three / alone, 64 conn", r }'
echo "$caught $caught_ms" | awk -v want="$CATCHUP" '{
    printf "%-34s %10d   target < 2000 ms for %d orders: %s  (%d orders)\n",
           "catch-up ms, replica 1", $2, want, ($2 < 2000 && $1 >= want ? "met" : "NOT met"), $1 }'
