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
#  TRADE_CONNECTIONS, reported without a verdict: this system has one
#  order replica (--members 1, a majority of one). The trade targets are
#  judged once, by trades.sh, with three replicas against the bus limit
#  and the trade floor it measures in its own run.
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
. "$HERE/lib.sh"
BENCH_BIN=${BENCH_BIN:-$HERE/../../build/bench}
CONNECTIONS=${CONNECTIONS:-64}
TRADE_CONNECTIONS=${TRADE_CONNECTIONS-64 5}
ROUNDS=${ROUNDS:-1}

need "$BIN/bazaar-broker" "$BIN/bazaar-catalog" "$BIN/bazaar-order" \
     "$BIN/bazaar-gateway" "$BENCH_BIN/bare_h2o" "$BENCH_BIN/chain"
need_wrk
bench_tmp

set -- $(free_ports 12)
BARE=http://127.0.0.1:$1
CHAIN=http://127.0.0.1:$2
CACHED=http://127.0.0.1:$3
UNCACHED=http://127.0.0.1:$4

#  *_PIDS: the processes whose CPU time a row charges to the server side.
start bare "$BENCH_BIN/bare_h2o" "$1"
BARE_PIDS=$LAST_PID
start_chain "$2" "$L:$5" "$L:$6"
start broker "$BIN/bazaar-broker" --bind "$L:$7" --tap "$L:$8" -q
SYSTEM_PIDS=$LAST_PID
start catalog "$BIN/bazaar-catalog" --broker "$L:$7" --pub "$L:$9" $(catalog_rep "$L:${12}") \
    --data "$TMP/data" -q
SYSTEM_PIDS="$SYSTEM_PIDS $LAST_PID"
start order "$BIN/bazaar-order" --id 1 --members 1 --broker "$L:$7" --pub "$L:${10}" \
    --rep "$L:${11}" --data "$TMP/data" --new -q
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

trade_lua

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
printf "$HEAD" "POST /orders (trades, 1 replica)" "trades/s" "p50" "p99" "cpu us/req" "errors"; }
for conns in $TRADE_CONNECTIONS; do
    measure "trades-$conns" "$CACHED/orders" "$conns" "$CACHED_PIDS" -s "$TMP/trade.lua"
    row "$conns connections"
done
echo
ratio "cached gateway / bare h2o" 0.80 $CACHED_RATIOS
ratio "uncached gateway / chain" 0.70 $UNCACHED_RATIOS
[ -z "$TRADE_CONNECTIONS" ] \
    || echo "(trades above: one replica, reported; trades.sh judges the trade targets)"
