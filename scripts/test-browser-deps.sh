#!/usr/bin/env bash
# What the viewer's browser tests (tests/test_web_browser.py) need: Debian's chromium and the npm
# package playwright-core (driver only: it downloads no browser of its own). Safe to run twice.
# playwright-core goes to $FUKUROU_PLAYWRIGHT_DIR (default ~/.cache/fukurou-playwright), which the
# test reads too. Failures here are not fatal: the browser tests then skip and say why.
set -uo pipefail
dir="${FUKUROU_PLAYWRIGHT_DIR:-$HOME/.cache/fukurou-playwright}"

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null || echo "test-browser-deps: chromium not installed" >&2
    else
        echo "test-browser-deps: chromium missing and apt-get not usable (not root?)" >&2
    fi
fi

if command -v npm >/dev/null 2>&1; then
    if [ ! -d "$dir/node_modules/playwright-core" ]; then
        mkdir -p "$dir"
        (cd "$dir" && npm install --silent --no-audit --no-fund playwright-core@1 >/dev/null) \
            || echo "test-browser-deps: npm install playwright-core failed" >&2
    fi
else
    echo "test-browser-deps: npm missing (apt-get install nodejs npm)" >&2
fi
exit 0
