#  lib.sh - helpers shared by run.sh and replication.sh; sourced, not run.
#
#  The sourcing script sets HERE (its directory) and `set -eu` first. It
#  gets: BIN, DURATION, WARMUP, THREADS (from the environment, with their
#  defaults); need EXE... (exit unless executable), need_wrk (installs the
#  Debian package if missing), bench_tmp (TMP, PIDS, the exit trap that
#  kills everything started and removes TMP unless KEEP=1), start,
#  wait_status, free_ports, trade_lua, bounded, cpu_ticks, measure, row,
#  ratio and div.

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
