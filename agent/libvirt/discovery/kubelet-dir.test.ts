import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KubeletDirDiscovery } from "./kubelet-dir.ts";
import { libvirtRuntimeDir } from "./kubelet-pods.ts";

let root: string;
const servers: Server[] = [];

/**
 * A listening UNIX socket reached at `path`, as a daemon's. A kubelet path is too long for a socket address, so
 * the socket listens at a short path and `path` is a symbolic link to it (stat follows it, as connect does).
 */
async function socketAt(path: string): Promise<void> {
  const s = createServer();
  servers.push(s);
  const real = join(root, `s${servers.length}`);
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.listen(real, resolve);
  });
  await symlink(real, path);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "vesmon-kubelet-"));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await rm(root, { recursive: true, force: true });
});

describe("kubelet-dir discovery", () => {
  it("finds one daemon per pod with a socket in its libvirt-runtime emptyDir, virtqemud first", async () => {
    const a = "0b4f6c1e-0000-4000-8000-00000000000a";
    const b = "0b4f6c1e-0000-4000-8000-00000000000b";
    const c = "0b4f6c1e-0000-4000-8000-00000000000c";
    for (const uid of [a, b, c]) await mkdir(libvirtRuntimeDir(root, uid), { recursive: true });
    // An older launcher (libvirtd), a current one (virtqemud, both sockets), and a pod whose daemon is not up.
    await socketAt(join(libvirtRuntimeDir(root, a), "libvirt-sock-ro"));
    await socketAt(join(libvirtRuntimeDir(root, b), "virtqemud-sock"));
    await socketAt(join(libvirtRuntimeDir(root, b), "virtqemud-sock-ro"));
    // A regular file of a socket's name is no socket.
    await writeFile(join(libvirtRuntimeDir(root, c), "virtqemud-sock-ro"), "");
    // A pod without the emptyDir (any other pod on the node).
    await mkdir(join(root, "var/lib/kubelet/pods/0b4f6c1e-0000-4000-8000-00000000000d/volumes"), {
      recursive: true,
    });
    const targets = await new KubeletDirDiscovery(root).targets();
    expect(targets).toEqual([
      { key: a, socketPath: join(libvirtRuntimeDir(root, a), "libvirt-sock-ro") },
      { key: b, socketPath: join(libvirtRuntimeDir(root, b), "virtqemud-sock-ro") },
    ]);
  });

  it("keeps a daemon whose socket went while its pod's runtime directory is there, and drops it with the pod", async () => {
    const a = "0b4f6c1e-0000-4000-8000-00000000000a";
    await mkdir(libvirtRuntimeDir(root, a), { recursive: true });
    const socket = join(libvirtRuntimeDir(root, a), "virtqemud-sock-ro");
    await socketAt(socket);
    const discovery = new KubeletDirDiscovery(root);
    expect(await discovery.targets()).toEqual([{ key: a, socketPath: socket }]);
    // The daemon stopped (its socket is gone): the VM is not known gone, its client keeps trying.
    await rm(socket);
    expect(await discovery.targets()).toEqual([{ key: a, socketPath: socket }]);
    // The pod was deleted: the kubelet removed its directory.
    await rm(join(root, "var/lib/kubelet/pods", a), { recursive: true });
    expect(await discovery.targets()).toEqual([]);
  });

  it("finds nothing on a node without a kubelet pods directory", async () => {
    expect(await new KubeletDirDiscovery(root).targets()).toEqual([]);
  });
});
