import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A Debian package the tests need, and which tests need it. */
export interface SystemPackage {
  name: string;
  neededBy: string;
  /** A command that makes the package unnecessary when it is already on PATH (e.g. another kubectl). */
  unlessCommand?: string;
}

/** Debian packages the test suite needs; `npm test` installs the missing ones (no recommends) when root. */
export const SYSTEM_PACKAGES: SystemPackage[] = [
  { name: "libvirt-daemon", neededBy: "libvirt RPC client and virt collector tests (a private libvirtd)" },
  { name: "libvirt-clients", neededBy: "libvirt tests that act on domains from a second connection (virsh)" },
  { name: "qemu-system-x86", neededBy: "tests on real TCG guests" },
  { name: "qemu-utils", neededBy: "guest disk images (qemu-img)" },
  { name: "openssl", neededBy: "TLS and mutual-TLS delivery tests (a throwaway CA)" },
  {
    name: "kubernetes-client",
    neededBy: "kubectl against the fake API server in the e2e test",
    unlessCommand: "kubectl",
  },
  {
    name: "podman",
    neededBy: "building the image and running the chart's pods as containers (test/helpers/image.ts)",
  },
  { name: "runc", neededBy: "podman's runtime here (crun 1.8 refuses cgroup v1 hybrid hosts)" },
  { name: "mmdebstrap", neededBy: "the Debian base image the image tests build on" },
  {
    name: "prometheus",
    neededBy:
      "promtool check metrics/rules, promtool test rules and a real Prometheus scraping the agent and operator",
  },
  { name: "golang-go", neededBy: "building the offline Helm chart renderer (test/chart/render.go)" },
  { name: "golang-github-masterminds-sprig-dev", neededBy: "sprig functions for the chart renderer" },
  { name: "golang-gopkg-yaml.v3-dev", neededBy: "YAML for the chart renderer (values, toYaml)" },
];

/** Picks the wanted packages that `dpkg-query -W -f '${Package} ${db:Status-Status}\n'` does not report installed. */
export function missingPackages(dpkgOutput: string, wanted: readonly SystemPackage[]): SystemPackage[] {
  const installed = new Set(
    dpkgOutput
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter(([, status]) => status === "installed")
      .map(([name]) => (name ?? "").replace(/:.*$/, "")),
  );
  return wanted.filter((p) => !installed.has(p.name));
}

function dpkgStatus(names: string[]): string {
  // dpkg-query exits 1 when some names are unknown to it; its output for the rest is still right.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: this is dpkg-query's format syntax, not a template.
  const format = "${Package} ${db:Status-Status}\n";
  const r = spawnSync("dpkg-query", ["-W", "-f", format, ...names], { encoding: "utf8" });
  return r.stdout ?? "";
}

function onPath(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

function main(): void {
  const wanted = SYSTEM_PACKAGES.filter((p) => !(p.unlessCommand && onPath(p.unlessCommand)));
  if (wanted.length === 0) return;
  const missing = missingPackages(dpkgStatus(wanted.map((p) => p.name)), wanted);
  if (missing.length === 0) return;
  const list = missing.map((p) => `${p.name} (${p.neededBy})`).join(", ");
  if (process.getuid?.() !== 0) {
    process.stderr.write(`npm test: missing system packages, tests that need them will fail: ${list}\n`);
    return;
  }
  process.stderr.write(`npm test: installing system packages: ${list}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync(
    "apt-get",
    ["install", "-y", "-qq", "--no-install-recommends", ...missing.map((p) => p.name)],
    {
      stdio: "inherit",
      env,
    },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
