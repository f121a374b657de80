#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (pinned Node, pnpm, redis-server, chromium, helm and
# kubectl, promtool, Debian's PostgreSQL for the restore drill),
# generates the Prisma client, builds the dashboard, type-checks, checks module boundaries and import cycles, formatting (Prettier), lint
# (ESLint with type information) and dead code (knip) through turbo (scripts/check.sh: a second run on an unchanged
# tree is served from .turbo/), then runs every jest test against real Redis
# and PostgreSQL (scripts/run-tests.ts). Ends with the plain line "N passed, N failed".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
ensure_redis
ensure_chromium
ensure_helm
ensure_promtool
ensure_postgres_tools
ensure_deps
cd "$TOOLPLANE_ROOT"

# The static checks (scripts/check.sh) run through turbo, cached in .turbo/ by their inputs (ADR 0046).
if [ "$#" -eq 0 ]; then
  bash scripts/check.sh
else
  log "format, lint and knip run without arguments only (pnpm check, pnpm format:check, pnpm lint, pnpm knip)"
  bash scripts/check.sh --quick
fi

# Jest: unit tests in one process, each file under tests/ in a process of its own (a file that does
# not exit by itself fails the run). A hung run must fail with its report, not be cut off by CI: jest gets what is left
# of CI's budget (TEST_BUDGET_SECONDS, 90 minutes, for the whole command including the install and static checks
# above) less five minutes for the report and teardown, never less than ten minutes.
budget=${TEST_BUDGET_SECONDS:-5400}
cap=$((budget - SECONDS - 300))
[ "$cap" -ge 600 ] || cap=600
log "jest may take ${cap} s (of the ${budget} s budget, ${SECONDS} s spent so far)"
exec timeout --signal=TERM "$cap" node --conditions=@toolplane/source scripts/run-tests.ts "$@"
