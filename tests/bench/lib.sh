#  lib.sh - helpers shared by the bench scripts; sourced, not run.
#
#  The sourcing script sets HERE (its directory) and `set -eu` first. It
#  gets: BIN, DURATION, WARMUP, THREADS (from the environment, with their
#  defaults); need EXE... (exit unless executable), need_wrk (installs the
#  Debian package if missing), bench_tmp (TMP, PIDS, the exit trap that
#  kills everything started and removes TMP unless KEEP=1), start,
#  wait_status, free_ports, trade_lua, bounded, cpu_ticks, running,
#  alive, rss_kb, measure, row, ratio, div, now_ns and ms_since; and for
#  a system of three replicas (replication.sh, trades.sh): system_ports,
#  start_broker, start_gateway, start_catalog, start_replica,
#  broker_answers, system, start_services, up, gone, stop, since,
#  post_trade, wait_trade, leader, named and wait_leader.

BIN=${BAZAAR_BIN:-$HERE/../../build/bin}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
THREADS=${THREADS:-1}
L=tcp://127.0.0.1

need () {   # need EXE...: exit unless each is executable
    for exe in "$@"; do
        [ -x "$exe" ] || { echo "bench: no $exe (make build bench)" >&2; exit 1; }
    done
}

need_wrk () {
    command -v wrk >/dev/null 2>&1 && return 0
    echo "bench: installing wrk (Debian package)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y -q wrk >/dev/null 2>&1 \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q wrk >/dev/null; } \
        || { echo "bench: need wrk" >&2; exit 1; }
}

#  bench_tmp: a temp dir $TMP; at exit, everything in PIDS and WRK_PID is
#  killed (TERM, then KILL) and TMP removed unless KEEP=1.
bench_tmp () {
    TMP=$(mktemp -d /tmp/bazaar-bench.XXXXXX)
    PIDS=""
    WRK_PID=""
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}
cleanup () {
    for pid in $WRK_PID $PIDS; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in $PIDS; do kill -9 "$pid" 2>/dev/null || true; done
    if [ "${KEEP:-}" = 1 ]; then echo "bench: files in $TMP" >&2; else rm -rf "$TMP"; fi
}

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

#  free_ports N: N free loopback ports (bound, read, released: a tiny race only).
free_ports () {
    /usr/bin/python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

#  trade_lua: writes $TMP/trade.lua, wrk's POST /orders script: stock k
#  gets sell, buy, sell, ... so quantities stay near 1000.
trade_lua () {
    cat >"$TMP/trade.lua" <<'LUA'
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
LUA
}

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

#  running PID: true while the process exists and has not exited (a
#  zombie our shell has not reaped yet counts as exited).
running () {
    [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]
}

#  alive PIDS...: exits, saying so, unless every process still runs.
alive () {
    for pid in "$@"; do
        if ! running "$pid"; then
            echo "bench: process $pid is gone (logs: KEEP=1)" >&2
            exit 1
        fi
    done
}

#  rss_kb PID: the process's resident memory (VmRSS from /proc), in kB.
rss_kb () {
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}

#  measure NAME URL CONNECTIONS "PIDS" [wrk options]: a warm-up, then a
#  measured run; sets RPS (2xx answers per second), P50, P99 (as wrk
#  prints them, over all answers), P50_MS, ERRORS (non-2xx answers plus
#  wrk's socket errors, or "-") and CPU: microseconds of CPU the server
#  side (PIDS) spent per answer, and CPU_EACH: the same for each of PIDS,
#  in their order (space separated).
measure () {
    name=$1 url=$2 conns=$3 pids=$4; shift 4
    bounded $((WARMUP + 10)) /dev/null wrk -t"$THREADS" -c"$conns" -d"${WARMUP}s" "$@" "$url"
    out=$TMP/wrk-$name.txt
    alive $pids
    ticks_before=$(cpu_ticks $pids)
    each_before=$(for pid in $pids; do cpu_ticks "$pid"; done)
    bounded $((DURATION + 10)) "$out" \
        wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency "$@" "$url"
    alive $pids
    ticks=$(($(cpu_ticks $pids) - ticks_before))
    each_after=$(for pid in $pids; do cpu_ticks "$pid"; done)
    set -- $(awk -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" '
        function ms(v) {
            if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v
        }
        / requests in / { n = $1; t = $4; sub(/,$/, "", t); secs = ms(t) / 1000 }
        /^ *Non-2xx/ { bad += $NF }
        /^ *Socket errors:/ { for (i = 4; i <= NF; i += 2) { v = $i; sub(/,$/, "", v); sock += v } }
        $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
        END { printf "%.0f %s %s %.3f %d %.1f %d\n", (secs > 0 ? (n - bad) / secs : 0), p50, p99,
                     ms(p50), bad + sock, (n > 0 ? ticks * 1e6 / hz / n : 0), n }
    ' "$out")
    RPS=$1 P50=$2 P99=$3 P50_MS=$4 ERRORS=$5 CPU=$6
    CPU_EACH=$(printf '%s\n' $each_before $each_after | awk -v k="$(echo $pids | wc -w)" \
        -v n="$7" -v hz="$(getconf CLK_TCK)" '
        { v[NR] = $1 }
        END { for (i = 1; i <= k; i++)
                  printf "%s%.1f", (i > 1 ? " " : ""), (n > 0 ? (v[k + i] - v[i]) * 1e6 / hz / n : 0)
              print "" }')
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
    all=""
    [ $# -eq 1 ] || all="  (median; sorted: $(sorted "$@"))"
    awk -v l="$label" -v t="$target" -v r="$(median "$@")" -v all="$all" 'BEGIN {
        printf "%-34s %10.3f   target >= %.2f: %s%s\n", l, r, t, (r >= t ? "met" : "NOT met"), all }'
}

#  median VALUE...: the median of the values.
median () {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

#  sorted VALUE...: the values, two decimals, smallest first, on one line.
sorted () {
    printf '%.2f\n' "$@" | sort -g | paste -sd ' '
}

div () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", (b > 0 ? a / b : 0) }'; }

now_ns () { date +%s%N; }
ms_since () {   # ms_since T: whole milliseconds since T (a now_ns)
    echo $((($(now_ns) - $1) / 1000000))
}

#  ---------------------------------------------------------------------
#  A system of three replicas: broker, catalog, order replicas 1, 2 and 3
#  (3, the highest id, leads), gateways. One data dir, DATA, which the
#  caller sets; the broker's log is BROKER_LOG (leader and named read it).

#  system_ports: free loopback ports for one system; sets GW and GW0 (two
#  gateway URLs), BROKER, TAP, CATALOG_PUB, CATALOG_REP, PUB_1, REP_1 ...
#  PUB_3, REP_3.
system_ports () {
    set -- $(free_ports 12)
    GW=http://127.0.0.1:$1 GW0=http://127.0.0.1:$2
    BROKER=$L:$3 TAP=$L:$4 CATALOG_PUB=$L:$5
    PUB_1=$L:$6 REP_1=$L:$7 PUB_2=$L:$8 REP_2=$L:$9 PUB_3=$L:${10} REP_3=$L:${11}
    CATALOG_REP=$L:${12}
}

#  start_chain HTTP_PORT FRONT BACK: the baseline chain (h2o -> DEALER ->
#  zmq_proxy -> echo) serving HTTP_PORT, the proxy between endpoints
#  FRONT and BACK; sets CHAIN_PIDS.
start_chain () {
    start chain-proxy "$BENCH_BIN/chain" proxy "$2" "$3"
    CHAIN_PIDS=$LAST_PID
    start chain-echo "$BENCH_BIN/chain" echo "$3"
    CHAIN_PIDS="$CHAIN_PIDS $LAST_PID"
    start chain-serve "$BENCH_BIN/chain" serve "$1" "$2"
    CHAIN_PIDS="$CHAIN_PIDS $LAST_PID"
}

#  catalog_rep ENDPOINT: the catalog's --rep option for ENDPOINT, or
#  nothing for binaries from before the direct link (so that the same
#  script measures the code before and after: BAZAAR_BIN=old/build/bin).
catalog_rep () {
    if "$BIN/bazaar-catalog" --help 2>/dev/null | grep -q -- '--rep'; then
        echo "--rep $1"
    fi
}

#  start_broker NAME: the broker at the default log level (its "order
#  leader is now replica N" lines are info), log $TMP/NAME.log; sets
#  BROKER_PID and BROKER_LOG.
start_broker () {
    start "$1" "$BIN/bazaar-broker" --bind "$BROKER" --tap "$TAP"
    BROKER_PID=$LAST_PID BROKER_LOG=$TMP/$1.log
}
#  start_gateway NAME URL CACHE_SIZE: a gateway on URL's port; LAST_PID.
start_gateway () {
    start "$1" "$BIN/bazaar-gateway" --port "${2##*:}" --broker "$BROKER" \
        --catalog-pub "$CATALOG_PUB" --cache-size "$3" -q
}

#  Catalog and replicas log at the default level: their exit lines (trades
#  per sync), the replicas' "caught up" lines are info. Each start has its
#  own log, NAME.TAG.log.
#  SERVICE_ARGS (none by default): more flags for the catalog and the
#  replicas, e.g. "--sync none".
start_catalog () {   # start_catalog TAG
    start "catalog.$1" "$BIN/bazaar-catalog" --broker "$BROKER" --pub "$CATALOG_PUB" \
        $(catalog_rep "$CATALOG_REP") --data "$DATA" ${SERVICE_ARGS:-}
    CATALOG_PID=$LAST_PID
}
#  start_replica ID MEMBERS TAG: replica ID of the consensus MEMBERS
#  ("1,2,3": a majority of the three commits; "1": replica 1 alone, a
#  majority of one, the baseline without replication).
start_replica () {
    eval "pub=\$PUB_$1 rep=\$REP_$1"
    start "order-$1.$3" "$BIN/bazaar-order" --id "$1" --members "$2" --broker "$BROKER" \
        --pub "$pub" --rep "$rep" --data "$DATA" --new ${SERVICE_ARGS:-}
    eval "ORDER_PID_$1=\$LAST_PID"
}
#  broker_answers: true when the broker answers `bazaar-client status`.
broker_answers () {
    "$BIN/bazaar-client" status --broker "$BROKER" --timeout 500 >/dev/null 2>&1
}

#  system TAG: broker and the two gateways (cache 8 at GW, 0 at GW0) on
#  fresh ports, logs NAME.TAG.log; waits until they answer. DATA: the
#  caller's. Sets GW_TAG.
system () {
    system_ports
    eval "GW_$1=\$GW"
    start_broker "broker.$1"
    start_gateway "gateway.$1" "$GW" 8
    GATEWAY_PID=$LAST_PID
    start_gateway "gateway0.$1" "$GW0" 0
    wait_status 200 "$GW/metrics"
    wait_status 200 "$GW0/metrics"
    i=0
    until broker_answers; do
        i=$((i + 1))
        [ $i -le 100 ] || { echo "bench: the broker never answers (logs: KEEP=1)" >&2; exit 1; }
        sleep 0.1
    done
}
#  start_services MEMBERS TAG: catalog and every replica of MEMBERS; sets
#  SERVER_PIDS to them, BROKER_PID and GATEWAY_PID (the caller's).
start_services () {
    start_catalog "$2"
    SERVER_PIDS="$BROKER_PID $CATALOG_PID"
    for id in $(echo "$1" | tr , ' '); do
        start_replica "$id" "$1" "$2"
        eval "SERVER_PIDS=\"\$SERVER_PIDS \$ORDER_PID_$id\""
    done
    SERVER_PIDS="$SERVER_PIDS $GATEWAY_PID"
}

#  up MEMBERS TAG: start catalog and the replicas of MEMBERS, wait until
#  the highest id leads and a trade succeeds.
up () {
    highest=$(echo "$1" | tr , '\n' | sort -n | tail -n 1)
    times=$(named "$highest")
    start_services "$1" "$2"
    wait_leader "$highest" $((times + 1))
    wait_trade
}

#  gone PID: reaps the exited child PID and forgets it.
gone () {
    wait "$1" 2>/dev/null || true
    PIDS=$(echo " $PIDS " | sed "s/ $1 / /")
}
#  stop PID...: SIGTERM, then wait (at most 10 s, then SIGKILL) until each exits.
stop () {
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        i=0
        while running "$pid"; do
            i=$((i + 1))
            [ $i -le 100 ] || { echo "bench: $pid ignored SIGTERM for 10 s" >&2; kill -9 "$pid"; }
            sleep 0.1
        done
        gone "$pid"
    done
}

since () {   # since T: seconds since T (a date +%s.%N)
    awk -v t="$1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", n - t }'
}
post_trade () {   # post_trade: status of one POST /orders to $GW (1 share of apple)
    curl -s -o /dev/null -m 2 -w '%{http_code}' -H 'Content-Type: application/json' \
        -d '{"name":"apple","type":"buy","quantity":1}' "$GW/orders" || true
}
wait_trade () {   # wait_trade: until a trade answers 200, at most 20 s
    i=0
    until [ "$(post_trade)" = 200 ]; do
        i=$((i + 1))
        [ $i -le 100 ] || { echo "bench: no trade succeeds (logs: KEEP=1)" >&2; exit 1; }
        sleep 0.2
    done
}
leader () {   # leader: the replica id the broker named last (0: none)
    sed -n 's/.*order leader is now [a-z]* \([0-9]*\) .*/\1/p' "$BROKER_LOG" | tail -n 1
}
named () {   # named ID: how many times the broker named replica ID leader
    grep -c "order leader is now replica $1 " "$BROKER_LOG" || true
}
#  wait_leader ID COUNT: until the broker has named replica ID leader COUNT
#  times and names no other since, at most 30 s.
wait_leader () {
    i=0
    until [ "$(named "$1")" -ge "$2" ] && [ "$(leader)" = "$1" ]; do
        i=$((i + 1))
        [ $i -le 300 ] || { echo "bench: replica $1 never leads (logs: KEEP=1)" >&2; exit 1; }
        sleep 0.1
    done
}
