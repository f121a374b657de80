#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (pinned Node, pnpm, redis-server, chromium),
# generates the Prisma client, builds the dashboard, type-checks, checks module boundaries and import cycles, formatting (Prettier), lint
# (ESLint with type information) and dead code (knip), then runs every jest test against real Redis
# and PostgreSQL (scripts/run-tests.ts). Ends with the plain line "N passed, N failed".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
ensure_redis
ensure_chromium
ensure_deps
cd "$TOOLPLANE_ROOT"

log "prisma generate"
generate_prisma_client
log "dashboard build"
build_dashboard
log "typecheck"
node_modules/.bin/tsc -p tsconfig.json
log "module boundaries"
node scripts/check-boundaries.ts
log "import cycles"
node scripts/check-import-cycles.ts

if [ "$#" -eq 0 ]; then
  log "format (prettier)"
  node_modules/.bin/prettier --check --log-level=warn .
  log "lint (eslint)"
  node_modules/.bin/eslint --max-warnings=0 .
  log "unused files, exports and dependencies (knip)"
  node_modules/.bin/knip --no-progress
else
  log "format, lint and knip run without arguments only (pnpm format:check, pnpm lint, pnpm knip)"
fi

# Jest: unit tests in one process, each file under tests/ in a process of its own (a file that does
# not exit by itself fails the run). A hung run must fail, not eat the CI budget.
exec timeout --signal=TERM 1500 node --conditions=@toolplane/source scripts/run-tests.ts "$@"
