#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (pinned Node, pnpm, redis-server),
# generates the Prisma client, type-checks, checks module boundaries, then runs every jest test
# against real Redis and PostgreSQL. Ends with the plain line "N passed, N failed".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
ensure_redis
ensure_deps
cd "$TOOLPLANE_ROOT"

log "prisma generate"
generate_prisma_client
log "typecheck"
node_modules/.bin/tsc -p tsconfig.json
log "module boundaries"
node scripts/check-boundaries.ts

results="$(mktemp)"
status=0
# A hung run (a leaked handle) must fail, not eat the CI budget.
timeout --signal=TERM 1500 node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js \
  --json --outputFile="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  console.log(`\n${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  if (skipped > 0) { console.error("skipped or todo tests are not allowed"); process.exit(1); }
' "$results" || status=1
rm -f "$results"
exit "$status"
