#!/bin/sh
# ctest entry for the browser test (see CMakeLists.txt). Needs node, Debian's chromium and
# `npm ci` in tests/browser; without them it skips (exit 77), except under CI (CI=true),
# where a missing piece is a failure: scripts/install-deps installs all three.
cd "$(dirname "$0")" || exit 1
missing=""
command -v node >/dev/null 2>&1 || missing="node"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing="$missing chromium"
[ -f node_modules/playwright-core/package.json ] || missing="$missing tests/browser/node_modules (npm ci)"
if [ -n "$missing" ]; then
  echo "browser test: missing$missing; scripts/install-deps installs them"
  [ "${CI:-}" = "true" ] && exit 1
  exit 77
fi
exec node --test --test-concurrency=1 test/
