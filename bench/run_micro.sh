#!/bin/sh
# run_micro.sh - runs Sluice's micro-benchmarks from a release build and
# captures their output.
#   pool_bench           pool alloc+release pair against malloc+free (jemalloc)
#   sched_handoff_bench  hand-off latency, wake-ups per hand-off, cross-thread wake-ups
# Usage: bench/run_micro.sh [BUILD_DIR] [OUT_FILE]
#   BUILD_DIR defaults to build-bench-rel (built in release mode if missing);
#   the output goes to stdout and, when given, to OUT_FILE as well.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build-bench-rel}
out=${2:-}

if [ ! -x "$build/bench/pool_bench" ] || [ ! -x "$build/bench/sched_handoff_bench" ]; then
	[ -f "$build/build.ninja" ] || meson setup "$build" "$repo" -Dbuildtype=release
	meson compile -C "$build" pool_bench sched_handoff_bench
fi

run() {
	echo "== pool_bench (build: $build)"
	"$build/bench/pool_bench"
	echo
	echo "== sched_handoff_bench (build: $build)"
	"$build/bench/sched_handoff_bench"
}

if [ -n "$out" ]; then
	run 2>&1 | tee "$out"
else
	run 2>&1
fi
