#!/bin/bash
# Coverage-guided fuzzing campaigns (clang's libFuzzer) under ASan+UBSan.
#
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS]
#   TARGET   h1_request h1_response h2_server h2_client cfg statspage, or all
#            (default all, one after the other: never two at once)
#   SECONDS  per target (default 60)
# Environment: FUZZ_BUILD (build dir, default build-fuzz), FUZZ_ARGS (more
# libFuzzer options, e.g. "-max_len=8192"), FUZZ_MERGE=0 (search only: CI's
# short campaigns leave the committed corpus as it is, since a clean clone
# throws the merge away and the merge would only cost time).
#
# Sets up a clang ASan+UBSan build with -Dfuzz=true (installing clang and
# libclang-rt-14-dev when missing), runs each campaign at nice 19 from its
# corpus (tests/fuzz/corpus/TARGET) with its dictionary, then merges the new
# inputs that add coverage back into the corpus (-merge=1), so that CI
# replays them (minus inputs that pass only thanks to the campaign's UBSan
# suppressions, which go to tests/fuzz/known/suppressed/). Crashes and
# broken invariants leave their input in
# $FUZZ_BUILD/artifacts/ (never in the corpus: a reproducer belongs there
# only once its fix is in). Prints seconds, executions and coverage edges
# per target; exits 1 when a campaign found something.
set -u
cd "$(dirname "$0")/.."

all="h1_request h1_response h2_server h2_client cfg statspage"
target=${1:-all}
secs=${2:-60}
build=${FUZZ_BUILD:-build-fuzz}
[ "$target" = all ] && targets=$all || targets=$target
for t in $targets; do
	case " $all " in *" $t "*) ;; *) echo "fuzz.sh: unknown target '$t' (one of: $all)" >&2; exit 2;; esac
done

# the dictionary of each target
dict_of() {
	case $1 in
	h1_*) echo tests/fuzz/dict/http1.dict ;;
	h2_*) echo tests/fuzz/dict/h2.dict ;;
	*) echo "tests/fuzz/dict/$1.dict" ;;
	esac
}

need=""
for p in clang libclang-rt-14-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
	echo "fuzz.sh: installing$need" >&2
	SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null || exit 2
fi

if [ ! -f "$build/build.ninja" ]; then
	CC=clang nice -n 19 meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dintegration_tests=false -Dbuildtype=debugoptimized >/dev/null || exit 2
fi
exes=""
for t in $targets; do exes="$exes tests/fuzz/fuzz_$t"; done
# shellcheck disable=SC2086
nice -n 19 ninja -C "$build" $exes >/dev/null || { nice -n 19 ninja -C "$build" $exes; exit 2; }

# UBSan findings are failures, except the known ones not fixed yet
# (tests/fuzz/ubsan-known.supp), so that a campaign gets past them; leaks
# are checked per input
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/fuzz/ubsan-known.supp
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1

mkdir -p "$build/fuzz-logs" "$build/artifacts"
found=0
summary=""
for t in $targets; do
	corpus=tests/fuzz/corpus/$t
	new=$build/fuzz-new/$t
	log=$build/fuzz-logs/$t.log
	rm -rf "$new"; mkdir -p "$new" "$corpus"
	echo "=== $t: ${secs}s"
	t0=$SECONDS
	# new inputs go to $new first; the corpus only gets what the merge keeps
	# shellcheck disable=SC2086
	nice -n 19 "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
		-dict="$(dict_of "$t")" -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 \
		${FUZZ_ARGS:-} "$new" "$corpus" >"$log" 2>&1
	rc=$?
	ran=$((SECONDS - t0))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	before=$(ls "$corpus" | wc -l)
	ls "$corpus" | sort >"$build/fuzz-logs/$t.before"
	[ "${FUZZ_MERGE:-1}" = 0 ] || nice -n 19 "$build/tests/fuzz/fuzz_$t" -merge=1 -timeout=20 -rss_limit_mb=2048 "$corpus" "$new" \
		>"$build/fuzz-logs/$t.merge.log" 2>&1
	# An input that only passes thanks to the suppressions must not enter
	# the replayed corpus (CI would report it): each new one runs once more
	# without them, and those that fail go to tests/fuzz/known/suppressed/.
	for f in $(ls "$corpus" | sort | comm -13 "$build/fuzz-logs/$t.before" -); do
		if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 nice -n 19 \
			"$build/tests/fuzz/fuzz_$t" "$corpus/$f" >"$build/fuzz-logs/$t.recheck.log" 2>&1; then
			mkdir -p tests/fuzz/known/suppressed
			mv "$corpus/$f" "tests/fuzz/known/suppressed/$t-$f"
			echo "$t: $f needs a suppression: moved to tests/fuzz/known/suppressed/"
		fi
	done
	after=$(ls "$corpus" | wc -l)
	status=ok
	if [ $rc -ne 0 ]; then
		what=$(grep -m1 -E '^==[0-9]+==ERROR|invariant broken|runtime error|deadly signal|timeout' "$log")
		# a death without a report (a signal libFuzzer does not catch) still counts
		status="FOUND: ${what:-exit status $rc, no report: see $log}"
		status="$status; input: $(grep -oE "$build/artifacts/$t-[a-z]+-[0-9a-f]+" "$log" | tail -1)"
		found=1
	fi
	line="$t: ${ran}s execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=$before->$after $status"
	echo "$line"
	summary="$summary$line"$'\n'
done
echo "=== summary (logs in $build/fuzz-logs)"
printf '%s' "$summary"
exit $found
