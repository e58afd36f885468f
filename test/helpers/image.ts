// Builds the project's Dockerfile with Debian's podman, as `npm test` does, on base images made on this
// machine: no container registry is needed. Run it alone to build by hand: `node test/helpers/image.ts`.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { arch, tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The tag `npm test` builds the Dockerfile as. */
export const TEST_IMAGE = "localhost/vesmon:test";
/** The Debian base, made with mmdebstrap from this machine's apt sources. */
export const DEBIAN_IMAGE = "localhost/vesmon-test/debian:bookworm";
/** Serialises builds between test files that run in parallel: the second one finds the cache warm. */
const LOCK = join(tmpdir(), "vesmon-image-build.lock");

/**
 * podman's settings for this machine, instead of /etc/containers: runc (crun 1.8 refuses cgroup v1 hybrid
 * hosts) and ulimits under the host's hard limits (root cannot raise them without CAP_SYS_RESOURCE).
 */
const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
`;

/** The environment podman runs with: CONTAINERS_CONF pointing at this helper's settings. */
export function podmanEnv(): NodeJS.ProcessEnv {
  const dir = join(tmpdir(), "vesmon-podman");
  const file = join(dir, "containers.conf");
  if (!existsSync(file) || readFileSync(file, "utf8") !== CONTAINERS_CONF) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, CONTAINERS_CONF);
  }
  return { ...process.env, CONTAINERS_CONF: file };
}

/**
 * Runs podman and returns its stdout (and its stderr after it with `withStderr`, for `podman logs`, which
 * writes a container's stderr there); a failure throws with podman's stderr.
 */
export function podman(
  args: string[],
  opts: { input?: string; timeoutMs?: number; withStderr?: boolean } = {},
): string {
  const r = spawnSync("podman", args, {
    env: podmanEnv(),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 120_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  if (r.status !== 0)
    throw new Error(`podman ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr || r.error}`);
  return opts.withStderr ? `${r.stdout}${r.stderr}` : r.stdout;
}

/** podman, asynchronously, so that in-process servers (the fake API server) keep answering meanwhile. */
export function podmanAsync(
  args: string[],
  opts: { timeoutMs?: number; withStderr?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "podman",
      args,
      { env: podmanEnv(), encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(
              `podman ${args.join(" ")} failed (${err.code ?? err.signal}): ${stderr || err.message}`,
            ),
          );
        else resolve(opts.withStderr ? `${stdout}${stderr}` : stdout);
      },
    );
  });
}

/** Whether podman has an image by that name. */
export function imageExists(name: string): boolean {
  return spawnSync("podman", ["image", "exists", name], { env: podmanEnv() }).status === 0;
}

/**
 * The mirror lines of this machine's apt sources (`deb URI SUITE COMPONENTS`), from deb822 `.sources` files
 * and one-line `.list` files, for the components mmdebstrap installs. No mirror is written in the repository.
 */
export function aptMirrorLines(files: { name: string; text: string }[]): string[] {
  const lines: string[] = [];
  for (const { name, text } of files) {
    if (name.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (key: string) =>
          new RegExp(`^${key}:\\s*(.+)$`, "mi").exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        if (!field("Types").includes("deb")) continue;
        for (const uri of field("URIs"))
          for (const suite of field("Suites"))
            lines.push(`deb ${uri} ${suite} ${field("Components").join(" ")}`);
      }
    } else {
      for (const raw of text.split("\n")) {
        const line = raw
          .replace(/#.*$/, "")
          .replace(/\[[^\]]*\]\s*/, "")
          .trim();
        if (line.startsWith("deb ")) lines.push(line);
      }
    }
  }
  return lines;
}

function readAptSources(): { name: string; text: string }[] {
  const files: { name: string; text: string }[] = [];
  if (existsSync("/etc/apt/sources.list"))
    files.push({ name: "sources.list", text: readFileSync("/etc/apt/sources.list", "utf8") });
  const dir = "/etc/apt/sources.list.d";
  if (existsSync(dir))
    for (const name of readdirSync(dir).sort())
      if (/\.(sources|list)$/.test(name)) files.push({ name, text: readFileSync(join(dir, name), "utf8") });
  return files;
}

function log(message: string): void {
  process.stderr.write(`[image] ${message}\n`);
}

/** A minbase Debian bookworm from this machine's apt mirrors, imported once (about a minute, 170 MB). */
function ensureDebianBase(): void {
  if (imageExists(DEBIAN_IMAGE)) return;
  const mirrors = aptMirrorLines(readAptSources()).filter((l) => /\sbookworm(-\S+)?\s/.test(l));
  if (mirrors.length === 0) throw new Error("no bookworm lines in /etc/apt/sources.list(.d)");
  const dir = mkdtempSync(join(tmpdir(), "vesmon-debian-"));
  try {
    const tar = join(dir, "base.tar");
    log(`mmdebstrap bookworm from ${mirrors.length} apt source lines`);
    execFileSync(
      "mmdebstrap",
      ["--quiet", "--variant=minbase", "--components=main", "bookworm", tar, ...mirrors],
      { stdio: ["ignore", "ignore", "inherit"], timeout: 900_000 },
    );
    podman(["import", "--change", 'CMD ["/bin/bash"]', tar, DEBIAN_IMAGE], { timeoutMs: 300_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Node binary the project pins (the `node` devDependency) and its version. */
function pinnedNode(): { binary: string; version: string } {
  const names: Record<string, string> = { ppc64: "ppc64le" };
  const pkgArch = names[arch()] ?? arch();
  const binary = join(ROOT, "node_modules", "node", "node_modules", `node-linux-${pkgArch}`, "bin", "node");
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run npm ci`);
  const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim().replace(/^v/, "");
  return { binary, version };
}

/** The npm this machine runs, copied into the test base (the build stages run npm ci). */
function hostNpm(): { dir: string; version: string } {
  const dir = join(execFileSync("npm", ["root", "-g"], { encoding: "utf8" }).trim(), "npm");
  const version = (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string })
    .version;
  return { dir, version };
}

/** The extra CA certificates this host trusts (its egress re-signs HTTPS), concatenated. */
function extraCaCertificates(): string {
  const dir = "/usr/local/share/ca-certificates";
  if (!existsSync(dir)) return "";
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith(".crt"))
    .map((d) => join(d.parentPath, d.name))
    .sort()
    .map((f) => readFileSync(f, "utf8").trim())
    .join("\n");
}

/**
 * The test-only Node base: the Debian base, the pinned Node binary, the host's npm, and the host's extra CA
 * certificates so that npm ci reaches the registry. None of it reaches the final image, which copies only
 * node and its libraries from this stage. Tagged by what goes in, so it is rebuilt only when that changes.
 */
function ensureNodeBase(): string {
  ensureDebianBase();
  const node = pinnedNode();
  const npm = hostNpm();
  const ca = extraCaCertificates();
  const containerfile = `FROM ${DEBIAN_IMAGE}
COPY extra-ca.pem /usr/local/share/ca-certificates/extra-ca.pem
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/extra-ca.pem
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
CMD ["node"]
`;
  const key = createHash("sha256").update(containerfile).update(ca).digest("hex").slice(0, 10);
  const tag = `localhost/vesmon-test/node:${node.version}-npm${npm.version}-${key}`;
  if (imageExists(tag)) return tag;
  const dir = mkdtempSync(join(tmpdir(), "vesmon-node-base-"));
  try {
    writeFileSync(join(dir, "Containerfile"), containerfile);
    writeFileSync(join(dir, "extra-ca.pem"), `${ca}\n`);
    execFileSync("cp", ["--reflink=auto", node.binary, join(dir, "node")]);
    execFileSync("cp", ["-a", npm.dir, join(dir, "npm")]);
    log(`building ${tag}`);
    podman(["build", "--pull=never", "-t", tag, "-f", join(dir, "Containerfile"), dir], {
      timeoutMs: 600_000,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return tag;
}

/** podman's output of the last image build, kept for a look after a failure. */
export const BUILD_LOG = join(tmpdir(), "vesmon-image-build.log");

/** What the build context holds (.dockerignore lets in at most these), hashed with the base image's tag. */
const CONTEXT = [
  "Dockerfile",
  ".dockerignore",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "LICENSE",
  "api",
  "kube",
  "operator",
  "agent",
];
/** The label that records which context and base an image was built from. */
const CONTEXT_LABEL = "io.vesmon.test.context";

function contextHash(base: string): string {
  const hash = createHash("sha256").update(base);
  for (const entry of CONTEXT) {
    const abs = join(ROOT, entry);
    if (!existsSync(abs)) continue;
    const files = statSync(abs).isDirectory()
      ? readdirSync(abs, { recursive: true, withFileTypes: true })
          .filter((d) => d.isFile() && !d.parentPath.includes("node_modules"))
          .map((d) => join(d.parentPath, d.name))
          .sort()
      : [abs];
    for (const f of files) hash.update(relative(ROOT, f)).update("\0").update(readFileSync(f)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * Builds the Dockerfile, unchanged, on the test base, unless TEST_IMAGE was already built from the same
 * context and base (a label says which). podman's layer cache keeps a rebuild after a change short; the
 * superseded final images are pruned, the other stages' layers stay as that cache.
 */
function buildImage(): void {
  const base = ensureNodeBase();
  const context = contextHash(base);
  if (
    imageExists(TEST_IMAGE) &&
    podman([
      "image",
      "inspect",
      "--format",
      `{{index .Config.Labels "${CONTEXT_LABEL}"}}`,
      TEST_IMAGE,
    ]).trim() === context
  )
    return;
  const started = Date.now();
  const out = openSync(BUILD_LOG, "w");
  const r = spawnSync(
    "podman",
    [
      "build",
      "--pull=never",
      "--build-arg",
      `BASE_IMAGE=${base}`,
      "--label",
      `${CONTEXT_LABEL}=${context}`,
      "-t",
      TEST_IMAGE,
      "-f",
      join(ROOT, "Dockerfile"),
      ROOT,
    ],
    { env: podmanEnv(), stdio: ["ignore", out, out], timeout: 1_500_000 },
  );
  closeSync(out);
  if (r.status !== 0) {
    const tail = readFileSync(BUILD_LOG, "utf8").split("\n").slice(-40).join("\n");
    throw new Error(`podman build failed (${r.status ?? r.signal}), log in ${BUILD_LOG}:\n${tail}`);
  }
  log(`built ${TEST_IMAGE} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  podman(["image", "prune", "--force", "--filter", `label=${CONTEXT_LABEL}`]);
}

/**
 * Makes sure TEST_IMAGE is built from the working tree: builds the base images if they are missing, then
 * the Dockerfile. Runs in a child process under flock(1), so parallel test files build once.
 */
export function ensureTestImage(): string {
  execFileSync("flock", [LOCK, process.execPath, fileURLToPath(import.meta.url)], {
    stdio: ["ignore", "inherit", "inherit"],
    timeout: 1_800_000,
  });
  return TEST_IMAGE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildImage();
