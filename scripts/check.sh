#!/usr/bin/env bash
# The static checks through turbo (turbo.json, ADR 0046): the Prisma client, the dashboard's build, the whole-repository
# type-check, module boundaries, import cycles, then (without --quick) Prettier, ESLint with type information, knip
# and the duplicate-code ratchet (scripts/check-duplicates.ts).
# Each is cached in .turbo/ by its inputs: on an unchanged tree a second run replays the first's logs; a changed
# input (a source file, a config, the lockfile) runs the checks that read it again; a failure is never cached.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
ensure_deps
tasks=(@toolplane/control-plane#generate @toolplane/dashboard#build //#typecheck //#boundaries //#cycles)
if [ "${1:-}" != "--quick" ]; then
  tasks+=(//#format:check //#eslint //#knip //#duplicates)
fi
log "static checks (turbo): ${tasks[*]}"
run_turbo "${tasks[@]}"
