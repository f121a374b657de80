#!/usr/bin/env bash
# Runs Toolplane locally on its embedded defaults, from a fresh clone: installs what it needs,
# starts a private redis-server, an embedded PostgreSQL, the control plane, edge and worker as
# three processes, the bundled seed-001 ticket system, and registers it as an MCP server.
# Arguments go to `toolplane dev` (e.g. --port 8080 --api-port 8081 --data-dir .data --verbose).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
ensure_redis
ensure_deps
cd "$TOOLPLANE_ROOT"
generate_prisma_client
build_dashboard
exec node --conditions=@toolplane/source packages/cli/src/main.ts dev "$@"
