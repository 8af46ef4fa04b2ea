#!/bin/sh
# Sets up a fresh Debian 12 machine, builds Sluice with warnings as errors,
# and runs every test (unit, stress and integration) through meson test.
# Usage: scripts/test.sh [BUILD_DIR] [extra meson setup options...]
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh

build=${1:-build}
[ $# -gt 0 ] && shift
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dwerror=true "$@" >/dev/null
fi
meson compile -C "$build" >/dev/null
meson test -C "$build" --print-errorlogs --num-processes 2
