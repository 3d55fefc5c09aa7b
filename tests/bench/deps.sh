#!/bin/sh
#  deps.sh - the Debian packages only the benchmarks need (make bench-deps,
#  which make bench calls): wrk (the load tool), etcd-server and
#  etcd-client (peer.sh's 3-member etcd, the peer SPEC section 7 compares
#  against). Not in tools/install-deps.sh: make test (CI) needs none of
#  them. Installs only what is missing (apt-get update first); safe to run
#  twice.
set -eu

PACKAGES="wrk etcd-server etcd-client"

missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "bench-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
