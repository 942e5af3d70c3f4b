#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then runs them.
# Used by the README and by CI (.ci/run). Safe to run twice: installs are skipped when present.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests drive for real: tcpdump/tcpreplay (live capture over veth in a
# network namespace), iproute2 (ip netns), libpcap for pcapy-ng.
need=()
for tool in tcpdump tcpreplay ip; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq tcpdump tcpreplay iproute2 libpcap0.8 >/dev/null
fi

# A C compiler and Python's headers: pip install builds the packet path with mypyc (setup.py).
# Without them it still installs, as plain Python, and tests/test_native.py says so.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    dev=()
    command -v cc >/dev/null 2>&1 || dev+=(gcc libc6-dev)
    python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
        || dev+=(python3-dev)
    if [ ${#dev[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${dev[@]}" >/dev/null
    fi
fi

# LDSHARED: extensions linked without the interpreter's run path (pyenv adds one), so that the
# RPM test can package them as they are instead of compiling again (packaging/rpm/build.sh).
LDSHARED="${CC:-cc} -shared" python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# The viewer's browser tests drive Debian's chromium through playwright-core.
bash scripts/test-browser-deps.sh
python3 -m ruff check appliance tests benchmarks
exec python3 -m pytest -q -p no:cacheprovider "$@"
