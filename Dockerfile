# syntax=docker/dockerfile:1
#
# One image for the three programs of the vesmon package. Node runs the compiled JavaScript in dist/.
#
#   docker build -t vesmon:dev .
#
# ENTRYPOINT is `node` and CMD is the script, so the first argument picks the program (paths relative
# to WORKDIR /app; in a pod: `command: ["node", "<script>"]`, or `args: ["<script>", ...]`):
#
#   vesmon-agent     dist/agent/main.js (the default)
#                    docker run --rm IMAGE dist/agent/main.js --check --profile /profiles/nfvi.yaml
#   vesmon-operator  dist/operator/main.js
#                    docker run --rm IMAGE dist/operator/main.js --help
#   vesmon-listener  dist/agent/listener/main.js (a VES collector for development, port 30417)
#                    docker run --rm -p 30417:30417 IMAGE dist/agent/listener/main.js --host 0.0.0.0
#
# The agent listens on 127.0.0.1:9464 unless given --listen 0.0.0.0:9464; the operator on 0.0.0.0:8080.
# Both programs handle SIGTERM themselves, so node can run as PID 1 without an init.
#
# For reproducible builds pin the base image by digest: node:24-bookworm-slim@sha256:...

# ---- build: every dependency, then tsc -p tsconfig.build.json into dist/ ----
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts run here: the `node` devDependency installs the Node 24 the npm scripts run on.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api/ api/
COPY kube/ kube/
COPY operator/ operator/
COPY agent/ agent/
# tsc emits the VES schemas it imports (agent/ves/schema.ts) re-indented. Put the upstream files back
# byte for byte, with their provenance and licence notice.
RUN npm run build \
 && cp agent/ves/schemas/CommonEventFormat_*.json agent/ves/schemas/NOTICE.md dist/agent/ves/schemas/

# ---- runtime: production dependencies, dist/, package.json; non-root ----
FROM node:24-bookworm-slim AS runtime

ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="vesmon" \
      org.opencontainers.image.description="Kubernetes operator and per-node agent that turn host, cgroup and libvirt VM figures into ONAP VES 7.2.1 events" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/vesmon/vesmon" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

ENV NODE_ENV=production
WORKDIR /app

# Production dependencies only. No dependency left has an install script (the `node` devDependency
# is the only one, and allowScripts is a dev-time policy), so none runs. The package managers are
# removed afterwards: nothing runs them at run time.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /root/.npm /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && groupadd --system --gid 65532 vesmon \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin vesmon

# dist/agent/version.js reads /app/package.json; the VES schemas are under dist/agent/ves/schemas/.
COPY --from=build /src/dist/ dist/
COPY LICENSE ./

# Files stay owned by root and read-only for the agent's user.
USER 65532:65532

# Every entrypoint loads all its modules before it parses its arguments: a missing production
# dependency or data file fails the build here, as the user the programs run as.
RUN ["node", "dist/agent/main.js", "--help"]
RUN ["node", "dist/operator/main.js", "--help"]
RUN ["node", "dist/agent/listener/main.js", "--help"]

# Agent metrics, operator metrics, listener.
EXPOSE 9464 8080 30417

ENTRYPOINT ["node"]
CMD ["dist/agent/main.js"]
