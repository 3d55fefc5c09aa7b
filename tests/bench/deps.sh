#!/bin/sh
#  deps.sh - the Debian packages only the benchmarks need (make bench-deps,
#  which make bench calls): wrk (the load tool), etcd-server and
#  etcd-client (peer.sh's 3-member etcd, the peer SPEC section 7 compares
#  against), linux-perf (wakeups.sh's counts). Not in tools/install-deps.sh: make test (CI) needs none of
#  them. Installs only what is missing (apt-get update first); safe to run
#  twice.
set -eu

#  tools/install-deps.sh does the work (what is missing, apt-get update
#  first) for the packages it is given.
exec sh "$(dirname "$0")/../../tools/install-deps.sh" wrk etcd-server etcd-client linux-perf
