# syntax=docker/dockerfile:1.7
#
# One image per service, from the pnpm workspace (build context: the repository root):
#   docker build --build-arg SERVICE=edge          -t toolplane/edge:0.1.0 .
#   docker build --build-arg SERVICE=worker        -t toolplane/worker:0.1.0 .
#   docker build --build-arg SERVICE=control-plane -t toolplane/control-plane:0.1.0 .
# CI adds --build-arg VERSION=<release> --build-arg REVISION=<git sha> (OCI labels).
#
# The services run from their TypeScript sources exactly as in development and tests
# (`node --conditions=@toolplane/source services/<svc>/src/main.ts`). Node strips types only outside
# node_modules, so the workspace layout is kept (packages/* stay where they are, linked from
# node_modules) instead of `pnpm deploy`, which copies workspace packages into node_modules.
# Why: docs/adr/0011-deployment.md. Checked statically by tests/deploy/dockerfile.test.ts.

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
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch --store-dir /pnpm-store

# The control plane's Prisma client: generated TypeScript, written by the prisma CLI (a dev
# dependency, so it never reaches the final image). No engine binary is downloaded (ADR 0003).
FROM fetch AS prisma
COPY . .
RUN pnpm install --offline --frozen-lockfile --store-dir /pnpm-store --filter "@toolplane/control-plane..." \
 && pnpm --filter @toolplane/control-plane run generate

# The service and the workspace packages it depends on, with production dependencies only.
FROM fetch AS prod
ARG SERVICE
COPY . .
RUN case "${SERVICE}" in edge|worker|control-plane) ;; \
      *) echo "build with --build-arg SERVICE=edge|worker|control-plane (got '${SERVICE}')" >&2; exit 1 ;; esac
RUN pnpm install --offline --frozen-lockfile --prod --store-dir /pnpm-store --filter "@toolplane/${SERVICE}..."
COPY --from=prisma /src/services/control-plane/src/generated /tmp/prisma-generated
# /out: the root manifest, the virtual store, and only the projects in the service's closure.
RUN mkdir -p /out \
 && cp -a package.json node_modules /out/ \
 && for dir in $(pnpm --filter "@toolplane/${SERVICE}..." list --depth -1 --parseable); do \
      rel="${dir#/src/}"; mkdir -p "/out/${rel}" && cp -a "${dir}/." "/out/${rel}/"; \
    done \
 && if [ "${SERVICE}" = control-plane ]; then cp -a /tmp/prisma-generated /out/services/control-plane/src/generated; fi \
 && test -f "/out/services/${SERVICE}/src/main.ts"

# ---- final image: node and the sources, nothing else ----------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim@${NODE_DIGEST} AS runtime
ARG SERVICE
# The slim base has no compilers; drop the package managers too (the service needs node only).
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production
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
COPY --from=prod /out /app
WORKDIR /app/services/${SERVICE}
# The base image's `node` user, numeric so that Kubernetes can verify runAsNonRoot.
USER 1000:1000
# control-plane migrations: `node --conditions=@toolplane/source src/db/migrate-cli.ts deploy`
CMD ["node", "--conditions=@toolplane/source", "src/main.ts"]
