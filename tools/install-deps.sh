#!/bin/sh
# Installs the Debian packages Bazaar needs to build and test.
# Called by the Makefile before every top-level target; safe to run twice.
# With arguments, installs those packages instead (tests/bench/deps.sh).
# chromium: the dashboard browser test; gnuplot-nox: make eval plots;
# python3-pytest-xdist: the suites run in parallel workers.
set -eu

# clang and libclang-rt-dev (compiler-rt: libclang_rt.fuzzer, asan, ubsan)
# build the libFuzzer harnesses of make fuzz / make test.
PACKAGES="build-essential pkg-config libzmq3-dev libczmq-dev libmsgpack-dev \
libh2o-evloop-dev libjansson-dev libssl-dev zlib1g-dev libcmocka-dev \
python3 python3-pytest python3-pytest-xdist procps chromium gnuplot-nox iproute2 nftables clang libclang-rt-dev"
[ $# -gt 0 ] && PACKAGES="$*"

#  One dpkg-query for every package (one per package took about 1.4 s).
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $PACKAGES 2>/dev/null \
    | awk '/ ok installed$/ { print $1 }')
missing=""
for pkg in $PACKAGES; do
    case " $(echo $installed) " in
        *" $pkg "*) ;;
        *) missing="$missing $pkg" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
