#!/bin/sh
# Sets up a fresh Debian 12 machine, builds Sluice, and runs the proxy on its
# built-in configuration in front of the demo origin:
#   proxy   http://127.0.0.1:8080/        (and http://[::1]:8080/)
#   stats   http://127.0.0.1:8080/sluice-stats
#   origin  127.0.0.1:8081 (tests/origin, started and stopped by this script)
# Ctrl-C stops the proxy gracefully, then the origin.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
build=build
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" >/dev/null
fi
meson compile -C "$build" >/dev/null

"$build/tests/origin/sluice-origin" -l 127.0.0.1:8081 -t 1 -n demo-origin &
origin=$!
trap 'kill "$origin" 2>/dev/null; wait "$origin" 2>/dev/null || true' EXIT INT TERM
echo "demo: proxy on http://127.0.0.1:8080/ (try: curl -i http://127.0.0.1:8080/size/1024)" >&2
echo "demo: counters on http://127.0.0.1:8080/sluice-stats ; Ctrl-C to stop" >&2
"$build/engine/sluice" -d || true
