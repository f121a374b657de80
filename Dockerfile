# syntax=docker/dockerfile:1.7
#
# One image per service, from the pnpm workspace (build context: the repository root):
#   docker build --build-arg SERVICE=edge          -t toolplane/edge:0.1.0 .
#   docker build --build-arg SERVICE=worker        -t toolplane/worker:0.1.0 .
#   docker build --build-arg SERVICE=control-plane -t toolplane/control-plane:0.1.0 .
# CI adds --build-arg VERSION=<release> --build-arg REVISION=<git sha> (OCI labels).
#
# Each image holds one service's production closure, built by scripts/build-service.sh (the same script
# tests/e2e/deploy-and-scale/production-build.test.ts builds and starts): compiled JavaScript (`tsc`), the Prisma client
# compiled with it, and `pnpm deploy --prod` (production dependencies only, workspace packages copied
# in as dist/). It runs `node dist/main.js` with NODE_ENV=production. Why: docs/adr/0011-deployment.md.
# Checked statically by tests/deploy/dockerfile.test.ts.

# Same version as .nvmrc and package.json "engines".
ARG NODE_VERSION=24.21.0
# The base image by digest (a tag can move, a digest cannot): the multi-arch index digest of
# node:${NODE_VERSION}-bookworm-slim. Check or update it together with NODE_VERSION:
#   docker buildx imagetools inspect node:24.21.0-bookworm-slim   (the "Digest:" line)
ARG NODE_DIGEST=sha256:0e0ff40c39bc087845bfb27465a0df4ea419520094bc35842ff83dd8cbe6f9b6

# ---- build stages: Node + pnpm --------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim@${NODE_DIGEST} AS pnpm
# Same version as package.json "toolchain.pnpm".
ARG PNPM_VERSION=12.21.0
ENV CI=true
RUN npm install --global --no-fund --no-audit --loglevel=error pnpm@${PNPM_VERSION}
WORKDIR /src

# Every package of the lockfile, in a store layer that is rebuilt only when the lockfile changes.
FROM pnpm AS fetch
# patches/: dependencies the workspace patches (pnpm's patchedDependencies; ADR 0029), applied at install.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
COPY patches/ ./patches/
RUN pnpm fetch --store-dir /pnpm-store

# The service and the workspace packages it depends on, compiled, then its production closure in /out.
# The build needs the dev dependencies (TypeScript, the Prisma CLI, the root's @types/node); none of
# them reaches /out. No engine binary is downloaded (ADR 0003).
FROM fetch AS build
ARG SERVICE
COPY . .
RUN case "${SERVICE}" in edge|worker|control-plane) ;; \
      *) echo "build with --build-arg SERVICE=edge|worker|control-plane (got '${SERVICE}')" >&2; exit 1 ;; esac
# The control plane also serves the dashboard (built by scripts/build-service.sh): its build dependencies too.
RUN pnpm install --offline --frozen-lockfile --store-dir /pnpm-store --filter toolplane --filter "@toolplane/${SERVICE}..." \
      $([ "${SERVICE}" = control-plane ] && echo --filter "@toolplane/dashboard...")
RUN PNPM_STORE_DIR=/pnpm-store bash scripts/build-service.sh "${SERVICE}" /out

# ---- final image: node and the compiled closure, nothing else ----------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim@${NODE_DIGEST} AS runtime
ARG SERVICE
# The slim base has no compilers; drop the package managers too (the service needs node only).
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production
# V8's young generation capped at 16 MB semi-spaces (V8 grows them to 64 MB under load): fewer page faults, less
# memory, more calls per CPU second (docs/adr/0031-young-generation.md). Override with NODE_OPTIONS in the manifest:
# the worker's manifests do (64 MB: its calls outlive a scavenge when the upstream is slow).
ENV NODE_OPTIONS=--max-semi-space-size=16
# OCI labels: where the image comes from (set by CI: --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD)).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/toolplane/toolplane
LABEL org.opencontainers.image.title="toolplane-${SERVICE}" \
      org.opencontainers.image.description="Toolplane ${SERVICE}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# Owned by root and not writable by the service user: the code is read-only even without
# readOnlyRootFilesystem. Writable paths are volumes (/tmp, SECRETS_DIR).
COPY --from=build /out /app
WORKDIR /app
# The base image's `node` user, numeric so that Kubernetes can verify runAsNonRoot.
USER 1000:1000
# control-plane migrations: `node dist/db/migrate-cli.js deploy`
CMD ["node", "dist/main.js"]
