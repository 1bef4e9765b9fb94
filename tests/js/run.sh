#!/bin/sh
# ctest entry for the JS compatibility suite. Runs `node --test` in tests/js when the pinned
# client is installed (`npm ci` in tests/js); otherwise prints why and exits 77, which the
# ctest registration maps to SKIP (SKIP_RETURN_CODE 77).
cd "$(dirname "$0")" || exit 1
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed"
  exit 77
fi
if [ ! -f node_modules/nats/package.json ]; then
  echo "SKIP: tests/js/node_modules is missing; run 'npm ci' in tests/js to enable the JS suite"
  exit 77
fi
echo "broker under test: ${AERIE_BROKER:-nats-server}"
exec node --test --test-concurrency=1 test/
