#!/usr/bin/env bash
# Builds one service's production closure into OUT_DIR: what its image runs (Dockerfile, `build` stage)
# and what tests/deploy/production-build.test.ts starts. One script for both, so they cannot drift.
#
#   scripts/build-service.sh <edge|worker|control-plane> <OUT_DIR>
#
# Run from the repository root of an installed workspace (`pnpm install` with dev dependencies: the
# build needs TypeScript and the Prisma CLI). Steps:
#   1. the control plane's Prisma client (generated TypeScript, compiled with the rest), when missing or stale;
#   2. `tsc -p tsconfig.build.json` in the service and every workspace package it depends on (dist/);
#   3. files tsc does not emit (the Prisma schema engine's .cjs wrapper) and, for the control plane, the
#      dashboard's static build (`dashboard/`, served at /; built in a scratch directory, not packages/dashboard/dist);
#   4. `pnpm deploy --prod`: the service's files ("files" of its package.json) and an isolated
#      node_modules with production dependencies only; workspace packages are copied in, dist/ only.
# The result starts with `node dist/main.js` (no source condition, NODE_ENV=production).
# PNPM_STORE_DIR: the pnpm store to install from (the image build's `pnpm fetch` store). The packages always come from
# the store; `pnpm deploy` also reads each dependency's registry metadata, which a machine may lack for a dependency
# added with `pnpm add` (the abbreviated metadata only): --prefer-offline fetches just that from the registry.
set -euo pipefail
service="${1:-}"
out="${2:-}"
case "${service}" in
  edge | worker | control-plane) ;;
  *)
    echo "usage: scripts/build-service.sh <edge|worker|control-plane> <OUT_DIR> (got '${service}')" >&2
    exit 2
    ;;
esac
[ -n "${out}" ] || { echo "usage: scripts/build-service.sh ${service} <OUT_DIR>" >&2; exit 2; }
[ ! -e "${out}" ] || [ -z "$(ls -A "${out}")" ] || { echo "${out} exists and is not empty" >&2; exit 2; }
store=()
[ -z "${PNPM_STORE_DIR:-}" ] || store=(--store-dir "${PNPM_STORE_DIR}")

# Generated when missing or older than the schema (the image build always generates; the test command has
# generated it already, and regenerating while other tests start control planes from it would race them).
client=services/control-plane/src/generated/prisma/client.ts
if [ "${service}" = control-plane ] && { [ ! -f "${client}" ] || [ services/control-plane/prisma/schema.prisma -nt "${client}" ]; }; then
  pnpm --filter @toolplane/control-plane run generate
fi
# One build at a time: builds write the shared packages' dist/ (tests build services and the CLI in parallel).
mkdir -p node_modules/.cache
flock node_modules/.cache/toolplane-build.lock pnpm --filter "@toolplane/${service}..." run build
dashboard=""
if [ "${service}" = control-plane ]; then
  cp services/control-plane/src/db/schema-engine-wasm.cjs services/control-plane/dist/db/
  # The dashboard the control plane serves at / (static files, found next to dist/ at run time), built into a
  # directory of this build's own: never packages/dashboard/dist, which Vite empties before writing and which
  # control planes running from this clone (dev, other tests) serve.
  dashboard="$(mktemp -d)"
  trap 'rm -rf "${dashboard}"' EXIT
  (cd packages/dashboard && NODE_ENV=production node node_modules/vite/bin/vite.js build \
    --outDir "${dashboard}" --emptyOutDir --logLevel warn)
fi
pnpm --filter "@toolplane/${service}" --prod --prefer-offline "${store[@]}" --config.node-linker=isolated deploy "${out}"
if [ -n "${dashboard}" ]; then cp -r "${dashboard}" "${out}/dashboard"; fi
test -f "${out}/dist/main.js"
