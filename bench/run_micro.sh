#!/bin/sh
# run_micro.sh - runs Sluice's micro-benchmarks from a release build and
# captures their output.
#   pool_bench           pool alloc+release pair against malloc+free (jemalloc),
#                        on 1, 2, 4 ... 64 threads at once (oversubscribed past the CPUs)
#   sched_handoff_bench  hand-off latency, wake-ups per hand-off, cross-thread
#                        wake-ups, and a 1 to 64-thread sweep of the pool
#                        contention and of cross-thread relays
#   counter_bench        per-thread counters: the engine's thr_ctx layout
#                        against padded and deliberately unpadded ones
# Both print per-thread throughput by wall clock and per CPU-second: on a
# machine with fewer cores than threads only the second shows contention.
# Usage: bench/run_micro.sh [BUILD_DIR] [OUT_FILE]
#   BUILD_DIR defaults to build-bench-rel (built in release mode if missing);
#   the output goes to stdout and, when given, to OUT_FILE as well.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build-bench-rel}
out=${2:-}

# only these two targets: the rest of a shared working tree may be half-edited
[ -f "$build/build.ninja" ] || (cd "$repo" && meson setup "$build" -Dbuildtype=release)
meson compile -C "$build" pool_bench sched_handoff_bench counter_bench >/dev/null

run() {
	echo "== pool_bench (build: $build)"
	"$build/bench/pool_bench"
	echo
	echo "== sched_handoff_bench (build: $build)"
	"$build/bench/sched_handoff_bench"
	echo
	echo "== counter_bench (build: $build)"
	"$build/bench/counter_bench"
}

if [ -n "$out" ]; then
	run 2>&1 | tee "$out"
else
	run 2>&1
fi
