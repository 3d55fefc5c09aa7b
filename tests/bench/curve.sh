#!/bin/sh
#  curve.sh - what CURVE (--keys) costs: the same system twice, without
#  and with keys, measured row by row back to back (the machine drifts):
#    cached GET /stocks/apple (gateway --cache-size 8): no bus at all,
#    uncached GET (--cache-size 0): one bus round trip, every hop encrypted,
#    durable trades (three replicas, --members 1,2,3 by default: a
#    majority commits) at 64 and 5 connections: the longest encrypted
#    path (gateway, broker, leader, followers; the catalog learns the
#    committed log beside it).
#  Prints requests/s, p50, p99 and server CPU per answer for each, and
#  the with/without ratio of each rate against SPEC section 7's "CURVE
#  costs <= 15%" (ratio >= 0.85).
#
#  A benchmark, not a test. Environment as run.sh (BAZAAR_BIN, DURATION,
#  WARMUP, CONNECTIONS, TRADE_CONNECTIONS, KEEP).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
CONNECTIONS=${CONNECTIONS:-64}
TRADE_CONNECTIONS=${TRADE_CONNECTIONS-64 5}

need "$BIN/bazaar-broker" "$BIN/bazaar-catalog" "$BIN/bazaar-order" \
     "$BIN/bazaar-gateway" "$BIN/bazaar-keys"
need_wrk
bench_tmp
"$BIN/bazaar-keys" "$TMP/keys" >/dev/null

#  system NAME [--keys DIR]: broker, catalog, replicas 1-3 and two
#  gateways (cache 8 and 0) on free ports, data in $TMP/NAME; sets
#  CACHED, UNCACHED (URLs), CACHED_PIDS and UNCACHED_PIDS.
system () {
    sys=$1 keys=${2:-} keydir=${3:-}
    set -- $(free_ports 13)
    start "$sys-broker" "$BIN/bazaar-broker" --bind "$L:$1" --tap "$L:$2" -q $keys $keydir
    pids=$LAST_PID
    start "$sys-catalog" "$BIN/bazaar-catalog" --broker "$L:$1" --pub "$L:$3" \
        $(catalog_rep "$L:${13}") --data "$TMP/$sys" -q $keys $keydir
    pids="$pids $LAST_PID"
    for id in 1 2 3; do
        eval "pub=\${$((5 + 2 * id))} rep=\${$((6 + 2 * id))}"
        start "$sys-order-$id" "$BIN/bazaar-order" --id "$id" --broker "$L:$1" --pub "$L:$pub" \
            --rep "$L:$rep" --data "$TMP/$sys" --new -q $keys $keydir
        pids="$pids $LAST_PID"
    done
    start "$sys-gateway-8" "$BIN/bazaar-gateway" --port "$4" --broker "$L:$1" \
        --catalog-pub "$L:$3" --cache-size 8 -q $keys $keydir
    CACHED_PIDS="$pids $LAST_PID" CACHED=http://127.0.0.1:$4
    start "$sys-gateway-0" "$BIN/bazaar-gateway" --port "$5" --broker "$L:$1" \
        --catalog-pub "$L:$3" --cache-size 0 -q $keys $keydir
    UNCACHED_PIDS="$pids $LAST_PID" UNCACHED=http://127.0.0.1:$5
    wait_status 200 "$CACHED/stocks/apple"
    wait_status 200 "$UNCACHED/stocks/apple"
    wait_status 404 "$CACHED/orders/0"
}

system plain
PLAIN_CACHED=$CACHED PLAIN_UNCACHED=$UNCACHED
PLAIN_CACHED_PIDS=$CACHED_PIDS PLAIN_UNCACHED_PIDS=$UNCACHED_PIDS
system curve --keys "$TMP/keys"
trade_lua

echo "bench: CURVE off/on, wrk -t$THREADS, ${WARMUP}s warm-up + ${DURATION}s per row," \
     "$(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
printf "$HEAD" "" "per second" "p50" "p99" "cpu us/req" "errors"
RATIOS=""
#  pair LABEL PLAIN_URL PLAIN_PIDS CURVE_URL CURVE_PIDS CONNS [wrk options]
pair () {
    label=$1 purl=$2 ppids=$3 curl_=$4 cpids=$5 conns=$6; shift 6
    measure "plain-$label" "$purl" "$conns" "$ppids" "$@"
    plain=$RPS; row "$label, no keys"
    measure "curve-$label" "$curl_" "$conns" "$cpids" "$@"
    row "$label, CURVE"
    r=$(div "$RPS" "$plain")
    RATIOS="$RATIOS$(printf '%-34s %10.3f   target >= 0.85: %s' "CURVE/plain $label" "$r" \
        "$(awk -v r="$r" 'BEGIN { print (r >= 0.85 ? "met" : "NOT met") }')")
"
}
pair "cached GET, $CONNECTIONS c" "$PLAIN_CACHED/stocks/apple" "$PLAIN_CACHED_PIDS" \
    "$CACHED/stocks/apple" "$CACHED_PIDS" "$CONNECTIONS"
pair "uncached GET, $CONNECTIONS c" "$PLAIN_UNCACHED/stocks/apple" "$PLAIN_UNCACHED_PIDS" \
    "$UNCACHED/stocks/apple" "$UNCACHED_PIDS" "$CONNECTIONS"
for conns in $TRADE_CONNECTIONS; do
    pair "trades, $conns c" "$PLAIN_CACHED/orders" "$PLAIN_CACHED_PIDS" \
        "$CACHED/orders" "$CACHED_PIDS" "$conns" -s "$TMP/trade.lua"
done
echo
printf '%s' "$RATIOS"
