import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../../../test/fake-apiserver/index.ts";
import type { DaemonTarget } from "./daemon-target.ts";
import { libvirtRuntimeDir } from "./kubelet-pods.ts";
import { KubevirtPodDiscovery } from "./kubevirt-pods.ts";

let api: FakeApiServer;
let root: string;
let discovery: KubevirtPodDiscovery | undefined;
const servers: Server[] = [];

/** A virt-launcher pod as KubeVirt makes it: owned by its VMI, labelled, scheduled on `node`. */
const launcher = (ns: string, vmi: string, node: string, labels: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: `virt-launcher-${vmi}-x7k2p`,
    namespace: ns,
    labels: { "kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": vmi, ...labels },
    ownerReferences: [
      {
        apiVersion: "kubevirt.io/v1",
        kind: "VirtualMachineInstance",
        name: vmi,
        uid: "5d0b2f6e-0000-4000-8000-000000000001",
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  },
  spec: { nodeName: node, containers: [{ name: "compute", image: "virt-launcher" }] },
});

/** Gives the pod a daemon socket in its libvirt-runtime emptyDir (a link to a short real socket). */
async function daemonFor(uid: string): Promise<string> {
  const s = createServer();
  servers.push(s);
  const real = join(root, `s${servers.length}`);
  await new Promise<void>((r) => s.listen(real, r));
  await mkdir(libvirtRuntimeDir(root, uid), { recursive: true });
  const path = join(libvirtRuntimeDir(root, uid), "virtqemud-sock-ro");
  await symlink(real, path);
  return path;
}

const uidOf = (o: { metadata: { uid?: string } }) => o.metadata.uid as string;

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  root = await mkdtemp(join(tmpdir(), "vesmon-kv-"));
});
afterEach(async () => {
  await discovery?.close();
  discovery = undefined;
  await api.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await rm(root, { recursive: true, force: true });
});

describe("KubeVirt pod discovery", () => {
  it("lists this node's virt-launcher pods as metadata, maps each uid to its socket and names its VMI", async () => {
    const db = api.create(launcher("prod", "db-1", "worker-1"));
    const web = api.create(launcher("web", "front", "worker-1"));
    const elsewhere = api.create(launcher("prod", "db-2", "worker-2"));
    const pending = api.create(launcher("prod", "new", "worker-1"));
    const other = api.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "nginx", namespace: "prod", labels: { app: "nginx" } },
      spec: { nodeName: "worker-1", containers: [{ name: "nginx", image: "nginx" }] },
    });
    const dbSock = await daemonFor(uidOf(db));
    const webSock = await daemonFor(uidOf(web));
    await daemonFor(uidOf(elsewhere));
    await daemonFor(uidOf(other));
    discovery = new KubevirtPodDiscovery({
      api: api.restClient(),
      nodeName: "worker-1",
      hostRoot: root,
    });
    const targets = await discovery.targets();
    const expected: DaemonTarget[] = [
      {
        key: uidOf(db),
        socketPath: dbSock,
        vmi: { namespace: "prod", name: "db-1", pod: "virt-launcher-db-1-x7k2p" },
      },
      {
        key: uidOf(web),
        socketPath: webSock,
        vmi: { namespace: "web", name: "front", pod: "virt-launcher-front-x7k2p" },
      },
    ].sort((a, b) => a.key.localeCompare(b.key));
    expect(targets).toEqual(expected);
    // The pod whose daemon is not up yet joins once its socket is there.
    const newSock = await daemonFor(uidOf(pending));
    expect((await discovery.targets()).map((t) => t.socketPath)).toContain(newSock);
    // Metadata only, selected by node and label, across namespaces: list and watch.
    const podRequests = api.requests.filter((r) => r.path === "/api/v1/pods");
    expect(podRequests.length).toBeGreaterThanOrEqual(2);
    for (const r of podRequests) {
      const q = new URLSearchParams(r.query);
      expect(q.get("fieldSelector")).toBe("spec.nodeName=worker-1");
      expect(q.get("labelSelector")).toBe("kubevirt.io=virt-launcher");
      expect(r.accept).toMatch(/as=PartialObjectMetadata(List)?;g=meta\.k8s\.io;v=v1/);
    }
  });

  it("follows pods deleted and started through the watch", async () => {
    const a = api.create(launcher("prod", "a", "worker-1"));
    await daemonFor(uidOf(a));
    discovery = new KubevirtPodDiscovery({
      api: api.restClient(),
      nodeName: "worker-1",
      hostRoot: root,
    });
    expect((await discovery.targets()).map((t) => t.vmi?.name)).toEqual(["a"]);
    // Its daemon stopped: the pod is still there, so the daemon is still a target (its client keeps trying).
    await rm(join(libvirtRuntimeDir(root, uidOf(a)), "virtqemud-sock-ro"));
    expect((await discovery.targets()).map((t) => t.vmi?.name)).toEqual(["a"]);
    api.delete("v1", "Pod", "virt-launcher-a-x7k2p", "prod");
    const b = api.create(launcher("prod", "b", "worker-1"));
    await daemonFor(uidOf(b));
    const d = discovery;
    await until(
      async () => JSON.stringify((await d.targets()).map((t) => t.vmi?.name)) === '["b"]',
      "pod b only",
    );
  });

  it("fails a read with a clear error while the first list cannot be made", async () => {
    api.failNext("GET", /^\/api\/v1\/pods$/, 403, 100);
    discovery = new KubevirtPodDiscovery({
      api: api.restClient(),
      nodeName: "worker-1",
      hostRoot: root,
      firstListTimeout: 300,
    });
    await expect(discovery.targets()).rejects.toThrow(/virt-launcher pods of node worker-1 not listed yet/);
    // Later reads fail at once (within the same turn of the event loop) instead of waiting again.
    const next = discovery.targets().then(
      () => "listed",
      (err: Error) => err.message,
    );
    const first = await Promise.race([next, new Promise((r) => setImmediate(() => r("still waiting")))]);
    expect(first).toMatch(/not listed yet/);
  });
});
