#!/bin/sh
#  failover.sh - SPEC section 7 / issue 20: what a kill -9 costs the
#  trades, in one run.
#
#  Starts on free loopback ports a broker, the catalog, order replicas 1,
#  2 and 3 (--members 1,2,3; replica 3, the highest id, leads) and a
#  gateway (--cache-size 8) on one fresh data dir, then:
#   1. leader kill -9, FAILOVERS rounds (10): under a light load
#      (failover.py: a trade every 10 ms, each on its own connection),
#      kill -9 the replica the broker names leader, time from the kill to
#      the end of the first trade sent after it that answers 200; restart
#      the killed replica and wait until the broker names it leader again
#      (the highest id leads). Prints each round and the median, target
#      < 200 ms.
#   2. catalog kill -9 under trade load: wrk at CATALOG_CONNECTIONS (64)
#      for CATALOG_SECONDS (6) with trade.lua; a third of the way in the
#      catalog is killed with SIGKILL, two thirds in it is started again
#      on the same data dir. Failed trades = wrk's non-2xx answers and
#      socket errors over the whole run: target 0 (the catalog only
#      learns the committed log; it is not on a trade's path). Then
#      `bazaar-client verify --url` checks that the restarted catalog
#      learned every trade (its quantities are the replicas').
#  The partition case (leader cut off, < 500 ms) is make bench-net.
#
#  A benchmark, not a test: it prints numbers and fails only if something
#  does not start or answer. Builds nothing: expects build/bin (make build).
#  Everything it starts is killed at exit.
#
#  Environment: BAZAAR_BIN (default build/bin), FAILOVERS (10),
#  CATALOG_CONNECTIONS (64), CATALOG_SECONDS (6), KEEP=1 keeps the temp
#  dir (logs of every process start, data, wrk output).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
FAILOVERS=${FAILOVERS:-10}
CATALOG_CONNECTIONS=${CATALOG_CONNECTIONS:-64}
CATALOG_SECONDS=${CATALOG_SECONDS:-6}
FAILOVER_TARGET_MS=200

need "$BIN/bazaar-broker" "$BIN/bazaar-catalog" "$BIN/bazaar-order" "$BIN/bazaar-gateway" \
     "$BIN/bazaar-client"
need_wrk
bench_tmp
trade_lua
DATA=$TMP/data
system failover
up 1,2,3 failover
wait_status 200 "$GW/stocks/apple"

echo "bench: failover, $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg)," \
     "$(date -u '+%Y-%m-%d %H:%M UTC')"

#  ---------------------------------------------------------------------
#  1. Leader kill -9

echo "leader kill -9 under a trade every 10 ms ($FAILOVERS rounds)"
printf '%-8s %10s %10s %14s %18s\n' "round" "killed" "ms to 200" "failed trades" "s until it leads"
: >"$TMP/failover.txt"
round=1
while [ "$round" -le "$FAILOVERS" ]; do
    id=$(leader)
    eval "pid=\$ORDER_PID_$id"
    times=$(named "$id")
    bounded 20 "$TMP/failover-$round.txt" /usr/bin/python3 "$HERE/failover.py" "$GW" "$pid" 10 \
        || { echo "bench: failover round $round failed (logs: KEEP=1)" >&2; exit 1; }
    gone "$pid"
    set -- $(cat "$TMP/failover-$round.txt")
    echo "$1" >>"$TMP/failover.txt"
    restarted=$(date +%s.%N)
    start_replica "$id" 1,2,3 "r$round"
    wait_leader "$id" $((times + 1))
    wait_trade
    printf '%-8s %10s %10s %14s %18.1f\n' "$round" "replica $id" "$1" "$2" \
        "$(since "$restarted")"
    round=$((round + 1))
done
SERVER_PIDS="$BROKER_PID $CATALOG_PID $ORDER_PID_1 $ORDER_PID_2 $ORDER_PID_3 $GATEWAY_PID"

#  ---------------------------------------------------------------------
#  2. Catalog kill -9 under trade load

echo
echo "catalog kill -9 under wrk -c$CATALOG_CONNECTIONS trades for ${CATALOG_SECONDS}s" \
     "(killed at 1/3, restarted at 2/3)"
third=$(awk -v s="$CATALOG_SECONDS" 'BEGIN { printf "%.2f\n", s / 3 }')
timeout $((CATALOG_SECONDS + 10)) wrk -t"$THREADS" -c"$CATALOG_CONNECTIONS" \
    -d"${CATALOG_SECONDS}s" --latency -s "$TMP/trade.lua" "$GW/orders" >"$TMP/wrk-catalog.txt" &
WRK_PID=$!
sleep "$third"
kill -9 "$CATALOG_PID"
gone "$CATALOG_PID"
sleep "$third"
start_catalog restarted
wait "$WRK_PID" || { echo "bench: wrk failed during the catalog kill" >&2; exit 1; }
WRK_PID=""
set -- $(awk '
    / requests in / { n = $1 }
    /^ *Non-2xx/ { bad += $NF }
    /^ *Socket errors:/ { for (i = 4; i <= NF; i += 2) { v = $i; sub(/,$/, "", v); sock += v } }
    $1 == "99%" { p99 = $2 }
    END { printf "%d %d %d %s\n", n, bad, sock, p99 }' "$TMP/wrk-catalog.txt")
CATALOG_TRADES=$1 CATALOG_FAILED=$(($2 + $3))
echo "  $1 trades sent, $2 non-2xx, $3 socket errors, p99 $4"
"$BIN/bazaar-client" verify --data "$DATA" --url "$GW" --wait 10 >"$TMP/verify.txt" 2>&1 \
    || { cat "$TMP/verify.txt" >&2; echo "bench: verify after the catalog's restart failed" >&2
         exit 1; }
echo "  verify --url after the restart: $(tail -n 1 "$TMP/verify.txt")"

#  ---------------------------------------------------------------------
#  Verdicts

echo
sort -g "$TMP/failover.txt" | awk -v t="$FAILOVER_TARGET_MS" '
    $1 != "-" { v[++n] = $1 } { all = all " " $1 }
    END {
        m = n == 0 ? -1 : (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2)
        if (m < 0) printf "%-36s %8s   target < %d ms: NOT met (no round recovered)\n",
                          "leader kill -9 -> trade, ms", "-", t
        else printf "%-36s %8.0f   target < %d ms: %s  (sorted:%s)\n",
                    "leader kill -9 -> trade, median of " NR, m, t,
                    (m < t && n == NR ? "met" : "NOT met"), all }'
awk -v f="$CATALOG_FAILED" -v n="$CATALOG_TRADES" 'BEGIN {
    printf "%-36s %8d   target 0: %s  (of %d trades)\n", "catalog kill -9: failed trades", f,
           (f == 0 ? "met" : "NOT met"), n }'
