import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dialUnix, SUN_PATH_MAX } from "./unix-dial.ts";

let dir: string;
let server: Server;

const greeting = (s: Socket) =>
  new Promise<string>((resolve, reject) => {
    let got = "";
    s.on("data", (c) => {
      got += c.toString();
    });
    s.on("end", () => resolve(got));
    s.on("error", reject);
  });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vd-"));
  server = createServer((c) => c.end("libvirt"));
  await new Promise<void>((r) => server.listen(join(dir, "sock"), r));
});
afterEach(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe("dialUnix", () => {
  it("reaches a socket whose path is longer than sun_path, where a plain connect reaches none", async () => {
    // A kubelet-like tree whose last directory is the socket's own (as a pod's emptyDir seen from the host).
    const deep = join(
      dir,
      "var/lib/kubelet/pods/0b4f6c1e-0000-4000-8000-00000000000a/volumes/kubernetes.io~empty-dir",
    );
    await mkdir(deep, { recursive: true });
    await symlink(dir, join(deep, "libvirt-runtime"));
    const path = join(deep, "libvirt-runtime", "sock");
    expect(Buffer.byteLength(path)).toBeGreaterThan(SUN_PATH_MAX);
    await expect(greeting(connect(path))).rejects.toThrow();
    expect(await greeting(dialUnix(path))).toBe("libvirt");
  });

  it("connects directly to a short path, and fails like a connect when the directory is gone", async () => {
    expect(await greeting(dialUnix(join(dir, "sock")))).toBe("libvirt");
    const gone = join(dir, "x".repeat(SUN_PATH_MAX), "sock");
    await expect(greeting(dialUnix(gone))).rejects.toThrow(/ENOENT/);
  });
});
