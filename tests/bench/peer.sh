#!/bin/sh
#  peer.sh - SPEC section 7 / issue 20: Bazaar against the peer a user
#  would pick instead, in one run on this machine.
#
#  The peer: a 3-member etcd cluster from Debian (/usr/bin/etcd, package
#  etcd-server; Raft, every write fsynced by a majority: its default, no
#  --unsafe-no-fsync), each member on its own loopback client and peer
#  ports with its own data dir under the temp dir (the disk Bazaar's data
#  dir is on). It is driven over its HTTP/JSON gateway, POST /v3/kv/txn
#  with two puts per request - an order under order/<run>/<n> and the
#  stock under stock/<name>, keys and values base64 as the gateway wants
#  them - the analogue of a trade, which writes an order and a stock.
#  wrk sends to the leader (etcdctl endpoint status), as FIELD-NOTES.md
#  says, so no request pays a follower's forwarding.
#
#  Bazaar: broker, catalog, order replicas 1, 2, 3 (3 leads) and a
#  gateway --cache-size 8, started as trades.sh starts them (lib.sh:
#  system, up), trades POST /orders with lib.sh's trade.lua.
#
#  Rows, interleaved (etcd, then Bazaar, at each connection count: the
#  machine drifts), each a WARMUP run and DURATION seconds measured, at
#  64, 5 and 1 connections; CPU per answer is summed over the three etcd
#  members, or over Bazaar's six processes. Then the ratios:
#     Bazaar trades/s / etcd txn/s at 64 connections   >= 5
#     Bazaar p50 / etcd p50 at 5 connections            <= 0.4
#  (1 connection: reported).
#
#  A benchmark, not a test: it prints numbers and fails only if something
#  does not start or answer (etcd not installed: make bench-deps). Builds
#  nothing: expects build/bin (make build). Everything it starts is killed
#  at exit.
#
#  Environment: BAZAAR_BIN (default build/bin), ETCD (/usr/bin/etcd),
#  ETCDCTL (/usr/bin/etcdctl), DURATION seconds per measured row (5),
#  WARMUP seconds (1), THREADS (wrk threads, 1), CONNECTIONS ("64 5 1"),
#  KEEP=1 keeps the temp dir (logs, data dirs, wrk output).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ETCD=${ETCD:-/usr/bin/etcd}
ETCDCTL=${ETCDCTL:-/usr/bin/etcdctl}
CONNECTIONS=${CONNECTIONS:-64 5 1}

need "$BIN/bazaar-broker" "$BIN/bazaar-catalog" "$BIN/bazaar-order" "$BIN/bazaar-gateway" \
     "$BIN/bazaar-client"
for exe in "$ETCD" "$ETCDCTL"; do
    [ -x "$exe" ] || { echo "bench: no $exe (make bench-deps installs etcd-server, etcd-client)" >&2
                       exit 1; }
done
need_wrk
bench_tmp
trade_lua

#  ---------------------------------------------------------------------
#  etcd: three members, then the leader's client URL.

set -- $(free_ports 6)
ETCD_CLIENTS="http://127.0.0.1:$1 http://127.0.0.1:$2 http://127.0.0.1:$3"
ETCD_PEERS="http://127.0.0.1:$4 http://127.0.0.1:$5 http://127.0.0.1:$6"
CLUSTER="n1=http://127.0.0.1:$4,n2=http://127.0.0.1:$5,n3=http://127.0.0.1:$6"
ETCD_PIDS=""
i=1
for client in $ETCD_CLIENTS; do
    peer=$(echo $ETCD_PEERS | cut -d' ' -f$i)
    start "etcd-n$i" "$ETCD" --name "n$i" --data-dir "$TMP/etcd-n$i" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "$CLUSTER" --initial-cluster-state new \
        --initial-cluster-token bazaar-bench --logger zap --log-level warn
    ETCD_PIDS="$ETCD_PIDS $LAST_PID"
    i=$((i + 1))
done
ENDPOINTS=$(echo $ETCD_CLIENTS | tr ' ' ,)
i=0
until "$ETCDCTL" --endpoints "$ENDPOINTS" --command-timeout 1s endpoint health >/dev/null 2>&1; do
    i=$((i + 1))
    alive $ETCD_PIDS
    [ $i -le 100 ] || { echo "bench: etcd never became healthy (logs: KEEP=1)" >&2; exit 1; }
    sleep 0.2
done
ETCD_LEADER=$("$ETCDCTL" --endpoints "$ENDPOINTS" endpoint status -w json | /usr/bin/python3 -c '
import json, sys
for member in json.load(sys.stdin):
    if member["Status"]["header"]["member_id"] == member["Status"]["leader"]:
        print(member["Endpoint"])
')
[ -n "$ETCD_LEADER" ] || { echo "bench: no etcd leader" >&2; exit 1; }
ETCD_VERSION=$("$ETCD" --version | sed -n 's/^etcd Version: //p')

#  wrk's script: a two-put transaction per request; TXN_TAG (environment)
#  names the run so that every run writes new order keys.
cat >"$TMP/txn.lua" <<'LUA'
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64 (data)
    local out = {}
    for i = 1, #data, 3 do
        local a, b, c = data:byte (i, i + 2)
        local n = a * 65536 + (b or 0) * 256 + (c or 0)
        local function at (shift)
            local k = math.floor (n / 2 ^ shift) % 64
            return alphabet:sub (k + 1, k + 1)
        end
        out[#out + 1] = at (18) .. at (12) .. (b and at (6) or "=") .. (c and at (0) or "=")
    end
    return table.concat (out)
end
local names = {"apple", "tesla", "ford", "amazon", "nvidia",
               "intel", "meta", "nike", "amc", "gamestop"}
local headers = {["Content-Type"] = "application/json"}
local tag = os.getenv ("TXN_TAG") or "0"
local n = 0
local function put (key, value)
    return '{"requestPut":{"key":"' .. base64 (key) .. '","value":"' .. base64 (value) .. '"}}'
end
request = function ()
    n = n + 1
    local name = names[n % 10 + 1]
    local side = (math.floor (n / 10) % 2 == 0) and "sell" or "buy"
    local order = '{"name":"' .. name .. '","type":"' .. side .. '","quantity":1}'
    local body = '{"success":[' .. put ("order/" .. tag .. "/" .. n, order) .. ","
                 .. put ("stock/" .. name, tostring (1000 + n % 2)) .. "]}"
    return wrk.format ("POST", "/v3/kv/txn", headers, body)
end
LUA
#  One transaction by hand: the gateway must take it.
got=$(curl -s -m 5 -H 'Content-Type: application/json' \
    -d '{"success":[{"requestPut":{"key":"b3JkZXIvMA==","value":"MQ=="}},{"requestPut":{"key":"c3RvY2svYXBwbGU=","value":"MTAwMA=="}}]}' \
    "$ETCD_LEADER/v3/kv/txn" || true)
case $got in
    *'"succeeded":true'*) ;;
    *) echo "bench: etcd's gateway answered '$got' to a transaction" >&2; exit 1 ;;
esac

#  ---------------------------------------------------------------------
#  Bazaar, as trades.sh starts it.

DATA=$TMP/bazaar
system peer
up 1,2,3 peer
wait_status 200 "$GW/stocks/apple"

#  ---------------------------------------------------------------------
#  Measured rows, interleaved

echo "bench: peer, wrk -t$THREADS, ${WARMUP}s warm-up + ${DURATION}s per row, $(nproc) cores," \
     "loadavg $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "etcd $ETCD_VERSION, 3 members, leader $ETCD_LEADER, data on" \
     "$(df -PT "$TMP" | awk 'NR == 2 { print $1 " (" $2 ")" }')"
echo
printf "$HEAD" "etcd txn (2 puts) or Bazaar trade" "answers/s" "p50" "p99" "cpu us/req" "errors"
run=0
for conns in $CONNECTIONS; do
    run=$((run + 1))
    export TXN_TAG="r$run"
    measure "etcd-$conns" "$ETCD_LEADER/v3/kv/txn" "$conns" "$ETCD_PIDS" -s "$TMP/txn.lua"
    row "etcd, $conns conn"
    [ "$RPS" -gt 0 ] || { echo "bench: no etcd transaction succeeded" >&2; exit 1; }
    eval "ETCD_RPS_$conns=\$RPS ETCD_P50_$conns=\$P50_MS"
    measure "bazaar-$conns" "$GW/orders" "$conns" "$SERVER_PIDS" -s "$TMP/trade.lua"
    row "Bazaar, $conns conn"
    [ "$RPS" -gt 0 ] || { echo "bench: no Bazaar trade succeeded" >&2; exit 1; }
    eval "BAZAAR_RPS_$conns=\$RPS BAZAAR_P50_$conns=\$P50_MS"
done

#  ---------------------------------------------------------------------
#  Ratios

echo
echo "ratios (figures from this run)"
verdict () {   # verdict LABEL FIGURE VALUE TARGET(">= x" or "<= x")
    awk -v l="$1" -v f="$2" -v v="$3" -v t="$4" 'BEGIN {
        split(t, p, " ")
        ok = p[1] == ">=" ? v + 0 >= p[2] + 0 : p[1] == "<=" ? v + 0 <= p[2] + 0 : -1
        printf "%-34s %26s %7.2f   %s\n", l, f, v,
               (ok < 0 ? "(reported)" : "target " t ": " (ok ? "met" : "NOT met")) }'
}
case " $CONNECTIONS " in *" 64 "*)
    verdict "trades/s / etcd txn/s, 64 conn" "$BAZAAR_RPS_64 / $ETCD_RPS_64" \
        "$(div "$BAZAAR_RPS_64" "$ETCD_RPS_64")" ">= 5" ;;
esac
case " $CONNECTIONS " in *" 5 "*)
    verdict "trade p50 / etcd p50, 5 conn" "$BAZAAR_P50_5 / $ETCD_P50_5 ms" \
        "$(div "$BAZAAR_P50_5" "$ETCD_P50_5")" "<= 0.4" ;;
esac
case " $CONNECTIONS " in *" 1 "*)
    verdict "trade p50 / etcd p50, 1 conn" "$BAZAAR_P50_1 / $ETCD_P50_1 ms" \
        "$(div "$BAZAAR_P50_1" "$ETCD_P50_1")" report ;;
esac
