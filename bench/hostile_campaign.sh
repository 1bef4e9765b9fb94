#!/usr/bin/env bash
# The hostile-input and fault campaign of issue 18, long form (CI runs a short slice of each
# part: the fuzz targets for 20 s, tests/hostile for 15 s, tests/sf). Everything under
# AddressSanitizer and UndefinedBehaviorSanitizer. Prints one line per part and exits 1 if any
# part found something; the logs stay in $OUT.
#
#   bench/hostile_campaign.sh [--fuzz-minutes N] [--wirefuzz-minutes N] [--iterations N]
#
# Parts: every libFuzzer target for N minutes (default 8); the random protocol fuzzer over
# real sockets against aerie-leaf for N minutes (default 10); the exactly-once stress of
# issue 20 (cut beyond the duplicate window, kill -9, black hole, leader stepdowns) for N
# iterations (default 20), once in issue 20's own shape and once with stepdowns; the
# store-and-forward fault suite (kill -9 at random points, corrupt and full stores, forged
# ids, poison headers, floods of subjects) twice with fresh seeds.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzz_min=8 wire_min=10 iters=20
while (($#)); do
    case "$1" in
    --fuzz-minutes) fuzz_min=$2; shift 2 ;;
    --wirefuzz-minutes) wire_min=$2; shift 2 ;;
    --iterations) iters=$2; shift 2 ;;
    *) echo "usage: $0 [--fuzz-minutes N] [--wirefuzz-minutes N] [--iterations N]" >&2; exit 2 ;;
    esac
done
OUT=${OUT:-$(mktemp -d /tmp/aerie-campaign-XXXXXX)}
echo "hostile campaign: logs in $OUT"
scripts/install-deps >/dev/null
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAERIE_SANITIZE=ON >/dev/null &&
    cmake --build build-asan -j"$(nproc)" >/dev/null || exit 1
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAERIE_FUZZ=ON >/dev/null &&
    cmake --build build-fuzz -j"$(nproc)" >/dev/null || exit 1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export AH_TIMEOUT_SCALE=${AH_TIMEOUT_SCALE:-3}
failed=0
part() { # name, command...
    local name=$1
    shift
    local t0=$SECONDS
    if "$@" >"$OUT/$name.log" 2>&1; then
        echo "ok    $name ($((SECONDS - t0)) s)"
    else
        echo "FAIL  $name ($((SECONDS - t0)) s): see $OUT/$name.log"
        failed=1
    fi
}
for target in build-fuzz/fuzz_*; do
    name=$(basename "$target")
    corpus=$(mktemp -d)
    [ -d "tests/fuzz/corpus/${name#fuzz_}" ] && cp -r "tests/fuzz/corpus/${name#fuzz_}/." "$corpus/"
    part "$name" "$target" -max_total_time=$((fuzz_min * 60)) -print_final_stats=1 "$corpus" \
        -artifact_prefix="$OUT/crash-${name#fuzz_}-"
    rm -rf "$corpus"
done
part wirefuzz env WIREFUZZ_SECONDS=$((wire_min * 60)) build-asan/test_hostile wirefuzz_leaf
part exactly_once_issue20 build-asan/test_sf_stress --iterations "$iters" --window-ms 5000 \
    --subjects 1 --delay-ms 0 --no-stepdown
part exactly_once_stepdowns build-asan/test_sf_stress --iterations "$iters"
for round in 1 2; do
    part "sf_faults_$round" build-asan/test_sf kill9_always beyond_window hub_node_kill torn_tail \
        corrupt_segment disk_full
    part "sf_hostile_$round" build-asan/test_sf_hostile
    part "sf_store_$round" build-asan/test_sf_store
done
exit $failed
