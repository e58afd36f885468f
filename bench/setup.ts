import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { missingPackages, type SystemPackage } from "../test/setup/system-packages.ts";

/** The peers the collection benchmark runs next to the agent, and what the guests need; installed when root. */
export const BENCH_PACKAGES: readonly SystemPackage[] = [
  {
    name: "collectd-core",
    neededBy: "the collectd 5.12 peer (virt, cpu, memory, interface, disk, write_http)",
  },
  { name: "prometheus-libvirt-exporter", neededBy: "the libvirt exporter peer" },
  { name: "prometheus-node-exporter", neededBy: "the node exporter peer" },
  { name: "libvirt-daemon", neededBy: "the private libvirtd serving the guests" },
  { name: "libvirt-clients", neededBy: "virsh, to start and destroy the guests" },
  { name: "qemu-system-x86", neededBy: "the TCG guests" },
  { name: "qemu-utils", neededBy: "the guests' disk images (qemu-img)" },
];

function dpkgStatus(names: readonly string[]): string {
  // dpkg-query exits 1 when some names are unknown to it; its output for the rest is still right.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: this is dpkg-query's format syntax, not a template.
  const format = "${Package} ${db:Status-Status}\n";
  return spawnSync("dpkg-query", ["-W", "-f", format, ...names], { encoding: "utf8" }).stdout ?? "";
}

/**
 * Installs the missing benchmark packages with apt-get (no recommends) when running as root; otherwise
 * returns the missing ones so the caller can say what it cannot measure.
 */
export function ensureBenchPackages(): SystemPackage[] {
  const missing = missingPackages(dpkgStatus(BENCH_PACKAGES.map((p) => p.name)), BENCH_PACKAGES);
  if (missing.length === 0 || process.getuid?.() !== 0) return missing;
  process.stderr.write(`bench: installing ${missing.map((p) => p.name).join(", ")}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync(
    "apt-get",
    ["install", "-y", "-qq", "--no-install-recommends", ...missing.map((p) => p.name)],
    { stdio: "inherit", env },
  );
  return missingPackages(dpkgStatus(BENCH_PACKAGES.map((p) => p.name)), BENCH_PACKAGES);
}

/**
 * How the chart starts the operator: its command's V8 flags, its env and its memory limit, MiB (a chart test keeps
 * them equal). The old space is a share of the limit, so raising the limit for a larger fleet raises the heap.
 */
export const OPERATOR_RUNTIME = {
  nodeFlags: ["--max-semi-space-size=4", "--max-old-space-size-percentage=33"],
  env: { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "65536" },
  memoryLimitMiB: 384,
} as const;

let built = false;

/**
 * How the image starts the agent (the Dockerfile's CMD flags and ENV, the chart's command, `npm start`; a test
 * keeps them equal): the benchmarks measure the agent as it is deployed.
 */
export const AGENT_RUNTIME = {
  nodeFlags: ["--max-semi-space-size=2", "--max-old-space-size=256"],
  env: { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "65536" },
} as const;

/** Seconds after the start by which the agent's RSS has settled in long runs (bench/memory.md). */
export const SETTLED_AFTER_SECONDS = 180;

/** Why a window that reads the agent's memory waits `SETTLED_AFTER_SECONDS`, as the reports say it. */
export const SETTLE_REASON =
  "the agent's RSS climbs for two to three minutes after its start while V8 and malloc take pages they keep";

/**
 * Builds the project (`npm run build`) once per benchmark run and returns a program's compiled entry point
 * (`dist/agent/main.js` for "agent/main"): the form the image ships. Run from the .ts sources, Node also loads
 * its type stripper (about 20 MiB more RSS), which no deployment pays.
 */
export function builtEntry(
  root: string,
  program: "agent/main" | "operator/main" | "agent/listener/main",
): string {
  if (!built) {
    execFileSync(
      process.execPath,
      [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
      {
        cwd: root,
        stdio: "inherit",
      },
    );
    built = true;
  }
  return join(root, "dist", `${program}.js`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const left = ensureBenchPackages();
  if (left.length > 0) {
    process.stderr.write(`bench: still missing: ${left.map((p) => p.name).join(", ")}\n`);
    process.exitCode = 1;
  }
}
