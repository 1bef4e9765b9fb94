#!/bin/sh
# nats.c's own test suite (v3.4.1) against nats-server and aerie-leaf, side by side.
#
#   tests/natsc/run.sh [NATSC_SRC] [--tests NAME,NAME...] [--out FILE]
#
# NATSC_SRC (or the environment variable of that name) is a checkout of nats.c at tag v3.4.1;
# it is never copied into this repository. Without it the script prints why and exits 0, so
# CI (which cannot download nats.c) passes. The script builds nats.c's `testsuite` program in
# a scratch directory ($NATSC_BUILD_DIR, default $TMPDIR/aerie-natsc-build), then runs every
# test (or the named ones) once with NATS_TEST_SERVER_EXE pointing at nats-server and once at
# aerie-leaf, test by test, from a scratch copy of nats.c's test/ folder (its certs and
# config files). One line per test goes to stdout and to --out (tab-separated:
# name, nats-server result, aerie-leaf result, verdict).
#
# Results: pass, pass* (passed on a second attempt), FAIL, timeout. Verdicts: "same" (both
# pass, or both fail), "excluded" (listed in exclusions.txt next to
# this script with the reason: a feature aerie-leaf rightly lacks), "REGRESSION" (passes with
# nats-server, fails with aerie-leaf, not excluded), "stale-exclusion" (excluded but passes
# on both: remove it from the list). The exit code is 1 when there is a REGRESSION.
#
# The tests use fixed ports (4222, 4443, 22222, ...): run nothing else on them meanwhile.
# Environment: AERIE_BUILD_DIR (where aerie-leaf is; default ./build), NATS_SERVER (default
# /usr/sbin/nats-server), NATSC_TEST_TIMEOUT (seconds per test and broker, default 300).
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
src=${NATSC_SRC:-}
only=
out=

while [ $# -gt 0 ]; do
  case "$1" in
    --tests) only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) src=$1; shift ;;
  esac
done

if [ -z "$src" ]; then
  echo "SKIP: no nats.c source tree given (tests/natsc/run.sh /path/to/nats.c, tag v3.4.1);" \
       "nothing to run"
  exit 0
fi
if [ ! -f "$src/test/test.c" ] || [ ! -f "$src/test/list.txt" ]; then
  echo "run.sh: $src does not look like a nats.c source tree (no test/test.c)" >&2
  exit 2
fi
if ! grep -q 'VERSION 3.4.1' "$src/CMakeLists.txt" 2>/dev/null &&
   ! grep -q '"3.4.1"' "$src/src/version.h" 2>/dev/null; then
  echo "run.sh: warning: $src is not nats.c v3.4.1; the exclusion list was made for v3.4.1" >&2
fi

build=${NATSC_BUILD_DIR:-${TMPDIR:-/tmp}/aerie-natsc-build}
leaf=${AERIE_BUILD_DIR:-$repo/build}/aerie-leaf
nats=${NATS_SERVER:-/usr/sbin/nats-server}
limit=${NATSC_TEST_TIMEOUT:-300}
for bin in "$leaf" "$nats"; do
  [ -x "$bin" ] || { echo "run.sh: $bin is not an executable (build aerie-leaf first)" >&2; exit 2; }
done

echo "building nats.c's testsuite in $build"
mkdir -p "$build"
if ! cmake -S "$src" -B "$build" -DNATS_BUILD_STREAMING=OFF -DNATS_BUILD_EXAMPLES=OFF \
       -DCMAKE_BUILD_TYPE=Release >"$build/cmake.log" 2>&1 ||
   ! cmake --build "$build" --target testsuite -j2 >"$build/make.log" 2>&1; then
  echo "run.sh: building nats.c failed; see $build/cmake.log and $build/make.log" >&2
  exit 2
fi
suite=$build/test/testsuite

# The tests read certs/ and *.conf relative to the working directory and write server.log
# (and, run without arguments, list.txt) there.
work=$(mktemp -d "${TMPDIR:-/tmp}/aerie-natsc-work.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$src/test/certs" "$work/"
cp "$src"/test/*.conf "$work/"
count=$(cd "$work" && "$suite" | sed -n 's/^Number of tests: //p')
[ -n "$count" ] || { echo "run.sh: $suite did not report its number of tests" >&2; exit 2; }
logs=$build/logs
mkdir -p "$logs"

nats_version=$("$nats" -v 2>&1 | head -1)
# Tests gated on the server's version (NATS_TEST_SERVER_VERSION) run the same way for both:
# aerie-leaf stands in for that nats-server, and a test skipped for one broker only would
# compare nothing.
leaf_version=$nats_version
excl=$here/exclusions.txt
[ -n "$out" ] && : >"$out"

# try_one INDEX NAME BROKER EXE VERSION -> prints pass/FAIL/timeout
try_one() {
  log=$logs/$2.$3.log
  ( cd "$work" && NATS_TEST_SERVER_EXE=$4 NATS_TEST_SERVER_VERSION=$5 \
      timeout -k 10 "$limit" "$suite" "$1" "$1" ) >"$log" 2>&1
  rc=$?
  if grep -q 'ALL PASSED' "$log"; then echo pass
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo timeout
  else echo FAIL
  fi
}

# run_one: as try_one, with a second attempt after a failure (several of nats.c's tests
# assert timings within 50 ms, which a loaded machine misses now and then): "pass*" means
# it passed the second time (the first log is kept as NAME.BROKER.first.log).
run_one() {
  r=$(try_one "$@")
  if [ "$r" != pass ]; then
    mv "$logs/$2.$3.log" "$logs/$2.$3.first.log"
    r2=$(try_one "$@")
    [ "$r2" = pass ] && r='pass*'
  fi
  echo "$r"
}

regressions=0
passed_nats=0
passed_leaf=0
excluded=0
i=0
printf 'test\tnats-server\taerie-leaf\tverdict\n'
while [ "$i" -lt "$count" ]; do
  name=$(sed -n "$((i + 1))p" "$src/test/list.txt")
  if [ -n "$only" ] && ! printf ',%s,' "$only" | grep -q ",$name,"; then
    i=$((i + 1))
    continue
  fi
  a=$(run_one "$i" "$name" nats-server "$nats" "$nats_version")
  b=$(run_one "$i" "$name" aerie-leaf "$leaf" "$leaf_version")
  reason=$(grep "^$name[[:space:]]" "$excl" 2>/dev/null | head -1)
  case $a in pass*) a_ok=1; passed_nats=$((passed_nats + 1)) ;; *) a_ok=0 ;; esac
  case $b in pass*) b_ok=1; passed_leaf=$((passed_leaf + 1)) ;; *) b_ok=0 ;; esac
  if [ -n "$reason" ]; then
    verdict=excluded
    excluded=$((excluded + 1))
    [ $a_ok = 1 ] && [ $b_ok = 1 ] && verdict=stale-exclusion
  elif [ $a_ok = 1 ] && [ $b_ok = 0 ]; then
    verdict=REGRESSION
    regressions=$((regressions + 1))
  else
    verdict=same
  fi
  line=$(printf '%s\t%s\t%s\t%s' "$name" "$a" "$b" "$verdict")
  echo "$line"
  [ -n "$out" ] && echo "$line" >>"$out"
  i=$((i + 1))
done
echo "passed: nats-server $passed_nats, aerie-leaf $passed_leaf; excluded $excluded;" \
     "regressions $regressions (logs in $logs)"
[ "$regressions" -eq 0 ]
