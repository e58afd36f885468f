# syntax=docker/dockerfile:1
#
# One image for the three programs of the vesmon package. Node runs the compiled JavaScript in dist/.
#
#   docker build -t vesmon:dev .
#
# ENTRYPOINT is `node` and CMD is the script, so the first argument picks the program (paths relative
# to WORKDIR /app; in a pod: `command: ["node", "<script>"]`, or `args: ["<script>", ...]`):
#
#   vesmon-agent     dist/agent/main.js (the default, with --max-semi-space-size=2 --max-old-space-size=256)
#                    docker run --rm IMAGE dist/agent/main.js --check --profile /profiles/nfvi.yaml
#   vesmon-operator  dist/operator/main.js
#                    docker run --rm IMAGE dist/operator/main.js --help
#   vesmon-listener  dist/agent/listener/main.js (a VES collector for development, port 30417)
#                    docker run --rm -p 30417:30417 IMAGE dist/agent/listener/main.js --host 0.0.0.0
#
# The agent listens on 127.0.0.1:9464 unless given --listen 0.0.0.0:9464; the operator on 0.0.0.0:8080.
# Both programs handle SIGTERM themselves, so node can run as PID 1 without an init.
#
# The base image is a build argument so that a build can take Node 24 from elsewhere (the tests build
# this file unchanged on a home-made base, see test/helpers/image.ts). Every stage but the last runs on
# it; for reproducible builds pin it by digest:
#
#   docker build --build-arg BASE_IMAGE=node:24-bookworm-slim@sha256:... -t vesmon:dev .
#
# The final stage is distroless-style: FROM scratch with only the node binary, the shared libraries it
# links (found with ldd), /etc/passwd and /etc/group, and /app. No shell, no package manager, no npm.
ARG BASE_IMAGE=node:24-bookworm-slim

# ---- build: every dependency, then tsc -p tsconfig.build.json into dist/ ----
FROM ${BASE_IMAGE} AS build
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

# ---- rootfs: the final image's whole file system, assembled under /rootfs ----
FROM ${BASE_IMAGE} AS rootfs
WORKDIR /rootfs/app
# Production dependencies only. No dependency left has an install script (the `node` devDependency
# is the only one, and allowScripts is a dev-time policy), so none runs. Then what node never loads
# goes: type declarations, TypeScript sources (node does not strip types under node_modules), source
# maps, docs, and the types-only packages. Licence files stay.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.ts' \
         -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -name '*.md' -o -name '*.markdown' \) \
         ! -iname 'licen[cs]e*' -delete \
 && find node_modules -depth -type d \( -name '@types' -o -name 'undici-types' \) -exec rm -rf {} + \
 && rm -f package-lock.json
# dist/agent/version.js reads /app/package.json; the VES schemas are under dist/agent/ves/schemas/.
COPY --from=build /src/dist/ dist/
COPY LICENSE ./
# node and the libraries it links, at the paths the dynamic loader looks them up; two users; a
# world-writable /tmp (a pod mounts an emptyDir there). Files stay owned by root.
RUN set -eu \
 && node=$(command -v node) \
 && mkdir -p /rootfs/usr/local/bin /rootfs/etc /rootfs/tmp \
 && cp "$node" /rootfs/usr/local/bin/node \
 && for lib in $(ldd "$node" | grep -o '/[^ ]*'); do cp --parents -L "$lib" /rootfs/; done \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nvesmon:x:65532:65532:vesmon:/nonexistent:/sbin/nologin\n' \
      > /rootfs/etc/passwd \
 && printf 'root:x:0:\nvesmon:x:65532:\n' > /rootfs/etc/group \
 && chmod 1777 /rootfs/tmp \
 && chmod -R a+rX,go-w /rootfs/app

# ---- runtime: scratch, the rootfs, non-root ----
FROM scratch AS runtime

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

COPY --from=rootfs /rootfs/ /
# MALLOC_ARENA_MAX: glibc gives each thread that mallocs an arena of its own (up to 8 per core), and Node's
# threads (libuv's pool, V8's platform workers, the agent's profile worker) keep ~15 MiB in them; two arenas
# keep the agent's RSS that much lower (docs/benchmarks.md, "Where the agent's memory goes").
# MALLOC_MMAP_THRESHOLD_: a fixed threshold turns off glibc's sliding one, which after the first large free
# sends every block up to that size (socket reads, reply buffers) into the heap, where freed blocks stay
# resident; the settled agent keeps ~6 MiB less (bench/memory.md, "Settled RSS"). The operator is no worse.
ENV NODE_ENV=production \
    PATH=/usr/local/bin \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=65536
WORKDIR /app
USER 65532:65532

# Every entrypoint loads all its modules before it parses its arguments: a missing production
# dependency, data file or shared library fails the build here, as the user the programs run as.
# (Exec form: there is no shell to run anything else.)
RUN ["node", "dist/agent/main.js", "--help"]
RUN ["node", "dist/operator/main.js", "--help"]
RUN ["node", "dist/agent/listener/main.js", "--help"]

# Agent metrics, operator metrics, listener.
EXPOSE 9464 8080 30417

# The agent's V8 heap settings, chosen from measurements (docs/benchmarks.md, "Where the agent's memory goes"):
# --max-semi-space-size=2 (MiB): V8 otherwise grows the young generation to 64 MiB under the agent's steady
# garbage, the largest share of its RSS; --max-old-space-size=256 (MiB) lowers where the old generation's first
# full collections start, with a margin of four over the agent's live heap at 1,000 domains. A command that
# names another script (the operator, the listener) replaces these flags with the CMD.
ENTRYPOINT ["node"]
CMD ["--max-semi-space-size=2", "--max-old-space-size=256", "dist/agent/main.js"]
