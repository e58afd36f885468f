// The image the Dockerfile builds, built here with podman (test/helpers/image.ts) and looked at from
// outside: its size, its user, its labels and what it leaves out (a shell, npm).
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTestImage, podman } from "./helpers/image.ts";

/** The image's size budget, in bytes as podman counts them (decimal megabytes). */
const SIZE_BUDGET = 250e6;

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};
let image: string;
let mounted: string;
let files: string[];

interface ImageConfig {
  Size: number;
  Config: {
    User?: string;
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
  };
}
const inspect = () => (JSON.parse(podman(["image", "inspect", image])) as ImageConfig[])[0] as ImageConfig;

beforeAll(() => {
  image = ensureTestImage();
  // The image's file system, read-only, as root sees it; unmounted after.
  mounted = podman(["image", "mount", image]).trim();
  files = readdirSync(mounted, { recursive: true, withFileTypes: true }).map((d) =>
    relative(mounted, join(d.parentPath, d.name)),
  );
}, 1_800_000);

afterAll(() => {
  if (mounted) podman(["image", "unmount", image]);
});

describe("the image", () => {
  it(`is under ${SIZE_BUDGET / 1e6} MB`, () => {
    const { Size } = inspect();
    process.stderr.write(`[image] ${image}: ${(Size / 1e6).toFixed(1)} MB\n`);
    expect(Size).toBeGreaterThan(50e6);
    expect(Size).toBeLessThan(SIZE_BUDGET);
  });

  it("runs node as uid 65532 from /app, the agent by default, with OCI labels", () => {
    const { Config } = inspect();
    expect(Config.User).toBe("65532:65532");
    expect(Config.Entrypoint).toEqual(["node"]);
    expect(Config.Cmd).toEqual(["--max-semi-space-size=2", "--max-old-space-size=256", "dist/agent/main.js"]);
    expect(Config.WorkingDir).toBe("/app");
    expect(Config.Labels).toMatchObject({
      "org.opencontainers.image.title": "vesmon",
      "org.opencontainers.image.version": pkg.version,
      "org.opencontainers.image.licenses": "Apache-2.0",
    });
  });

  it("holds node, the programs and their dependencies, and no shell, package manager, or dependencies' type declarations and source maps", () => {
    expect(files).toEqual(
      expect.arrayContaining([
        "usr/local/bin/node",
        "app/package.json",
        "app/dist/agent/main.js",
        "app/dist/operator/main.js",
        "app/dist/agent/listener/main.js",
        "app/node_modules/@kubernetes/client-node/package.json",
        "etc/passwd",
      ]),
    );
    const forbidden = files.filter(
      (f) =>
        /(^|\/)(sh|bash|dash|ash|busybox|apt|apt-get|dpkg|npm|npx|corepack|yarn|yarnpkg)$/.test(f) ||
        /(^|\/)node_modules\/(npm|corepack)(\/|$)/.test(f) ||
        /^app\/node_modules\/.*(\.d\.[cm]?ts|\.map)$/.test(f),
    );
    expect(forbidden).toEqual([]);
    expect(readFileSync(join(mounted, "etc/passwd"), "utf8")).toMatch(/^vesmon:x:65532:65532:/m);
  });

  it("keeps its files out of reach of the user it runs as, but for /tmp", () => {
    const script = `const fs = require("node:fs");
      const writable = (p) => { try { fs.accessSync(p, fs.constants.W_OK); return true; } catch { return false; } };
      const paths = ["/", "/app", "/app/dist", "/app/dist/agent/main.js", "/app/node_modules", "/usr/local/bin/node", "/etc/passwd", "/tmp"];
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), writable: paths.filter(writable) }));`;
    const out = podman(["run", "--rm", "--pull=never", "--network=none", image, "-e", script]);
    expect(JSON.parse(out)).toEqual({ uid: 65532, gid: 65532, writable: ["/tmp"] });
  });
});
