#!/bin/sh
#  wakeups.sh - where the trade path's kernel cost comes from: system
#  calls and context switches per answer, thread by thread, for the
#  bus-limit chain (h2o -> DEALER -> zmq_proxy -> echo, GET) and for
#  durable trades (three replicas, a majority commits), each under wrk
#  at each of CONNECTIONS (default "64 5"), counted by `perf stat` over
#  the middle of the run. Prints one row per thread and the totals, then
#  the trade/chain ratio of each total. On this kind of VM a context switch, not the code,
#  is what a process costs (docs/PERFORMANCE.md "Where a trade's CPU
#  goes").
#
#  A benchmark, not a test. Needs perf (Debian linux-perf) and root or
#  kernel.perf_event_paranoid <= 0 for the tracepoint. Environment as
#  trades.sh (BAZAAR_BIN, BENCH_BIN, DURATION, CONNECTIONS, KEEP).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BENCH_BIN=${BENCH_BIN:-$HERE/../../build/bench}
CONNECTIONS=${CONNECTIONS:-64 5}

need "$BENCH_BIN/chain" "$BIN/bazaar-broker" "$BIN/bazaar-gateway"
need_wrk
command -v perf >/dev/null 2>&1 || { echo "bench: need perf (linux-perf)" >&2; exit 1; }
bench_tmp
trade_lua

#  names PIDS: "TID PROCESS/THREAD" for every thread of PIDS; a replica
#  is named by its id (bazaar-order-3), a chain process by its part
#  (chain-proxy).
names () {
    for pid in $1; do
        proc=$(cat "/proc/$pid/comm")
        set -- $(tr '\0' ' ' <"/proc/$pid/cmdline")
        id=$(echo "$*" | sed -n 's/.*--id \([0-9]*\).*/\1/p')
        [ -z "$id" ] || proc=$proc-$id
        [ "$proc" != chain ] || proc=chain-$2
        for task in /proc/"$pid"/task/*; do
            echo "${task##*/} $proc/$(tr ' ' _ <"$task/comm")"
        done
    done
}

#  count LABEL CONNS URL PIDS [WRK ARGS...]: wrk at CONNS for DURATION + 3 s,
#  perf stat over DURATION s of its middle; prints each thread's calls
#  and switches per answer and sets SYSCALLS and SWITCHES (the totals).
count () {
    label=$1 conns=$2 url=$3 pids=$4; shift 4
    wrk -t1 -c"$conns" -d"$((DURATION + 3))s" "$@" "$url" >"$TMP/wrk-$label.txt" &
    WRK_PID=$!
    sleep 1
    ticks=$(cpu_ticks $pids)
    perf stat -x, -e raw_syscalls:sys_enter,context-switches --per-thread \
        -p "$(echo $pids | tr ' ' ,)" -o "$TMP/perf-$label.txt" sleep "$DURATION"
    ticks=$(($(cpu_ticks $pids) - ticks))
    names "$pids" >"$TMP/names-$label.txt"
    wait "$WRK_PID"
    WRK_PID=
    rps=$(awk '/Requests\/sec/ { print $2 }' "$TMP/wrk-$label.txt")
    echo "$label: $rps answers/s at $conns connections; per answer:"
    printf '  %-32s %9s %9s\n' thread syscalls switches
    set -- $(awk -F, -v n="$rps" -v s="$DURATION" '
        FILENAME ~ /names/ { split($0, f, " "); name[f[1]] = f[2]; next }
        $2 ~ /^[0-9]+$/ {
            tid = $1; sub(/.*-/, "", tid); $1 = (tid in name) ? name[tid] : $1
            per = $2 / (n * s)
            if ($4 ~ /raw_syscalls/) { calls[$1] = per; c += per } else { cs[$1] = per; w += per }
        }
        END {
            for (t in calls) printf "  %-32s %9.2f %9.2f\n", t, calls[t], cs[t] > "/dev/stderr"
            printf "%.2f %.2f\n", c, w
        }' "$TMP/names-$label.txt" "$TMP/perf-$label.txt" 2>"$TMP/rows-$label.txt")
    sort "$TMP/rows-$label.txt"
    printf '  %-32s %9s %9s\n' total "$1" "$2"
    CPU_US=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$rps" -v s="$DURATION" \
        'BEGIN { printf "%.1f", t * 1e6 / hz / (n * s) }')
    echo "  CPU per answer, all processes: $CPU_US us"
    SYSCALLS=$1 SWITCHES=$2
}

set -- $(free_ports 3)
start_chain "$1" "$L:$2" "$L:$3"
CHAIN="http://127.0.0.1:$1/stocks/apple"
wait_status 200 "$CHAIN"
DATA=$TMP/data
system t
up 1,2,3 t

for c in $CONNECTIONS; do
    count chain "$c" "$CHAIN" "$CHAIN_PIDS"
    CHAIN_SYSCALLS=$SYSCALLS CHAIN_SWITCHES=$SWITCHES CHAIN_CPU_US=$CPU_US
    count trades "$c" "$GW_t/orders" "$SERVER_PIDS" -s "$TMP/trade.lua"
    echo "trade / chain at $c connections, system calls per answer:     $(div "$SYSCALLS" "$CHAIN_SYSCALLS")"
    echo "trade / chain at $c connections, context switches per answer: $(div "$SWITCHES" "$CHAIN_SWITCHES")"
    echo "trade / chain at $c connections, CPU per answer:              $(div "$CPU_US" "$CHAIN_CPU_US")"
done
