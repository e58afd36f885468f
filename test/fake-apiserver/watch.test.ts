import { CustomObjectsApi, type KubernetesObject, makeInformer, Watch } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MP, nodeMonitor, profile, until } from "./fixtures.ts";
import { FakeApiServer } from "./index.ts";
import type { K8sObject } from "./types.ts";

const NM_PATH = "/apis/vesmon.io/v1alpha1/nodemonitors";
const MP_PATH = "/apis/vesmon.io/v1alpha1/monitoringprofiles";

let server: FakeApiServer;
let aborts: AbortController[];

beforeEach(async () => {
  server = new FakeApiServer({ bookmarkIntervalMs: 50 });
  await server.start();
  aborts = [];
});
afterEach(async () => {
  for (const a of aborts) a.abort();
  await server.close();
});

interface Seen {
  events: { type: string; name?: string; rv?: string; code?: number }[];
  done: unknown[];
}

async function watch(
  path: string,
  query: Record<string, string | number | boolean | undefined>,
): Promise<Seen> {
  const seen: Seen = { events: [], done: [] };
  const w = new Watch(server.kubeConfig());
  const ac = await w.watch(
    path,
    query,
    (type, obj: { metadata?: { name?: string; resourceVersion?: string }; code?: number }) => {
      seen.events.push({
        type,
        ...(obj.metadata?.name ? { name: obj.metadata.name } : {}),
        ...(obj.metadata?.resourceVersion ? { rv: obj.metadata.resourceVersion } : {}),
        ...(obj.code ? { code: obj.code } : {}),
      });
    },
    (err) => seen.done.push(err),
  );
  aborts.push(ac);
  return seen;
}

const types = (s: Seen) => s.events.filter((e) => e.type !== "BOOKMARK").map((e) => `${e.type}:${e.name}`);

describe("watch", () => {
  it("streams ADDED, MODIFIED, DELETED and BOOKMARK from a list's resourceVersion", async () => {
    server.create(nodeMonitor("old"));
    const rv = server.resourceVersion;
    const seen = await watch(NM_PATH, { resourceVersion: rv, allowWatchBookmarks: true });
    await until(() => server.openWatches === 1);
    const created = server.create(nodeMonitor("w1"));
    server.update({ ...created, metadata: { ...created.metadata, labels: { a: "b" } } });
    server.delete("vesmon.io/v1alpha1", "NodeMonitor", "w1");
    await until(() => seen.events.some((e) => e.type === "DELETED"));
    expect(types(seen)).toEqual(["ADDED:w1", "MODIFIED:w1", "DELETED:w1"]);
    await until(() => seen.events.some((e) => e.type === "BOOKMARK"));
    const bookmark = seen.events.find((e) => e.type === "BOOKMARK");
    expect(bookmark?.rv).toBe(server.resourceVersion);
    const rvs = seen.events.filter((e) => e.type !== "BOOKMARK").map((e) => Number(e.rv));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
    const watchReq = server.requests.find((r) => r.query.includes("watch=true"));
    expect(watchReq?.query).toContain(`resourceVersion=${rv}`);
    expect(watchReq?.query).toContain("allowWatchBookmarks=true");
  });

  it("starts with synthetic ADDED events when no resourceVersion is given, and sends no bookmarks unasked", async () => {
    server.create(nodeMonitor("a"));
    server.create(nodeMonitor("b"));
    const seen = await watch(NM_PATH, {});
    await until(() => seen.events.length === 2);
    expect(types(seen)).toEqual(["ADDED:a", "ADDED:b"]);
    await new Promise((r) => setTimeout(r, 150));
    expect(seen.events.some((e) => e.type === "BOOKMARK")).toBe(false);
  });

  it("replays retained history after an older resourceVersion", async () => {
    const rv = server.resourceVersion;
    server.create(nodeMonitor("a"));
    server.delete("vesmon.io/v1alpha1", "NodeMonitor", "a");
    const seen = await watch(NM_PATH, { resourceVersion: rv });
    await until(() => seen.events.length === 2);
    expect(types(seen)).toEqual(["ADDED:a", "DELETED:a"]);
  });

  it("answers a too-old resourceVersion with an in-stream 410 Expired and closes", async () => {
    const rv = server.resourceVersion;
    server.create(nodeMonitor("a"));
    server.compact();
    const seen = await watch(NM_PATH, { resourceVersion: rv });
    await until(() => seen.done.length === 1);
    expect(seen.events).toEqual([{ type: "ERROR", code: 410 }]);
    expect(seen.done[0]).toBeNull();
    const raw = await fetch(`${server.url}${NM_PATH}?watch=1&resourceVersion=${rv}`);
    expect(raw.status).toBe(200);
    const line = JSON.parse((await raw.text()).trim()) as { type: string; object: Record<string, unknown> };
    expect(line.type).toBe("ERROR");
    expect(line.object).toMatchObject({ kind: "Status", code: 410, reason: "Expired", status: "Failure" });
  });

  it("expires watches when the bounded history overflows", async () => {
    await server.close();
    server = new FakeApiServer({ historySize: 2 });
    await server.start();
    const rv = server.resourceVersion;
    for (const n of ["a", "b", "c"]) server.create(nodeMonitor(n));
    const seen = await watch(NM_PATH, { resourceVersion: rv });
    await until(() => seen.done.length === 1);
    expect(seen.events[0]?.code).toBe(410);
    const recent = await watch(NM_PATH, { resourceVersion: String(Number(rv) + 1) });
    await until(() => recent.events.length === 2);
    expect(types(recent)).toEqual(["ADDED:b", "ADDED:c"]);
  });

  it("keeps a history per resource: churn on Nodes does not expire a NodeMonitor watch", async () => {
    await server.close();
    server = new FakeApiServer({ historySize: 2 });
    await server.start();
    server.create(nodeMonitor("a"));
    const rv = server.resourceVersion;
    server.create({ apiVersion: "v1", kind: "Node", metadata: { name: "n1" } });
    // Kubelet heartbeats: status-only updates, far more than the history holds.
    for (let i = 0; i < 5; i++) {
      const node = server.get("v1", "Node", "n1")!;
      server.updateStatus({ ...node, status: { conditions: [{ type: "Ready", reason: `beat-${i}` }] } });
    }
    server.create(nodeMonitor("b"));
    const seen = await watch(NM_PATH, { resourceVersion: rv });
    await until(() => seen.events.length === 1);
    expect(types(seen)).toEqual(["ADDED:b"]);
    expect(seen.done).toEqual([]);
    // The Nodes' own history is still bounded: a watch from before their churn is told 410.
    const nodes = await watch("/api/v1/nodes", { resourceVersion: rv });
    await until(() => nodes.done.length === 1);
    expect(nodes.events[0]?.code).toBe(410);
  });

  it("turns label changes into ADDED and DELETED for a selector watch", async () => {
    const mp = server.create(profile("p"));
    const seen = await watch(MP_PATH, {
      resourceVersion: server.resourceVersion,
      labelSelector: "tier=edge,!legacy",
    });
    await until(() => server.openWatches === 1);
    const edge = server.update({ ...mp, metadata: { ...mp.metadata, labels: { tier: "edge" } } });
    const edge2 = server.update({
      ...edge,
      metadata: { ...edge.metadata, labels: { tier: "edge", x: "1" } },
    });
    server.update({ ...edge2, metadata: { ...edge2.metadata, labels: { tier: "core" } } });
    await until(() => seen.events.length === 3);
    expect(types(seen)).toEqual(["ADDED:p", "MODIFIED:p", "DELETED:p"]);
  });

  it("ends streams on cutWatches() and after timeoutSeconds", async () => {
    const a = await watch(NM_PATH, {});
    const b = await watch(MP_PATH, {});
    await until(() => server.openWatches === 2);
    server.cutWatches();
    await until(() => a.done.length === 1 && b.done.length === 1);
    expect(a.done[0]).toBeNull();
    const started = Date.now();
    const t = await watch(NM_PATH, { timeoutSeconds: 1 });
    await until(() => t.done.length === 1, 3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("passes injected HTTP errors to the watch's done callback", async () => {
    server.failNext("GET", /nodemonitors$/, 410);
    const seen = await watch(NM_PATH, { resourceVersion: "5" });
    await until(() => seen.done.length === 1);
    expect((seen.done[0] as { statusCode: number }).statusCode).toBe(410);
  });
});

describe("informer", () => {
  it("relists after compact() + a cut stream + 410, emitting the delete it missed", async () => {
    server.create(profile("a"));
    server.create(profile("b"));
    const kc = server.kubeConfig();
    const api = kc.makeApiClient(CustomObjectsApi);
    const informer = makeInformer<KubernetesObject>(kc, MP_PATH, () =>
      api.listClusterCustomObject({ ...MP }),
    );
    const log: string[] = [];
    informer.on("add", (o) => log.push(`add:${o.metadata?.name}`));
    informer.on("update", (o) => log.push(`update:${o.metadata?.name}`));
    informer.on("delete", (o) => log.push(`delete:${o.metadata?.name}`));
    await informer.start();
    try {
      await until(() => log.length === 2 && server.openWatches === 1);
      expect(log).toEqual(["add:a", "add:b"]);
      // Changes the informer sees live, then history loss: its RV is now too old to resume from.
      server.cutWatches();
      server.delete("vesmon.io/v1alpha1", "MonitoringProfile", "b");
      server.create(profile("c"));
      server.compact();
      await until(() => log.includes("delete:b") && log.includes("add:c"), 5000);
      const lists = server.requests.filter(
        (r) => r.method === "GET" && r.path === MP_PATH && !r.query.includes("watch"),
      );
      expect(lists).toHaveLength(2);
      expect(
        informer
          .list()
          .map((o) => o.metadata?.name)
          .sort(),
      ).toEqual(["a", "c"]);
    } finally {
      await informer.stop();
    }
  });
});

describe("raw stream", () => {
  it("is chunked NDJSON flushed per event", async () => {
    const res = await fetch(`${server.url}${NM_PATH}?watch=true`);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("transfer-encoding")).toBe("chunked");
    const reader = res.body!.getReader();
    server.create(nodeMonitor("x"));
    const { value } = await reader.read();
    const ev = JSON.parse(new TextDecoder().decode(value).trim()) as { type: string; object: K8sObject };
    expect(ev.type).toBe("ADDED");
    expect(ev.object.metadata.name).toBe("x");
    await reader.cancel();
  });
});

describe("watch failures, as kube-apiserver reports them", () => {
  it("answers a resourceVersion it has not reached with an in-stream 504 ResourceVersionTooLarge", async () => {
    const ahead = String(Number(server.resourceVersion) + 10);
    const statuses: unknown[] = [];
    const w = new Watch(server.kubeConfig());
    aborts.push(
      await w.watch(
        NM_PATH,
        { resourceVersion: ahead },
        (type, obj) => {
          if (type === "ERROR") statuses.push(obj);
        },
        () => {},
      ),
    );
    await until(() => statuses.length === 1);
    expect(statuses[0]).toMatchObject({
      code: 504,
      reason: "Timeout",
      message: `Too large resource version: ${ahead}, current: ${server.resourceVersion}`,
      details: { causes: [{ reason: "ResourceVersionTooLarge" }], retryAfterSeconds: 1 },
    });
  });

  it("ends open watches with an ERROR on demand, and fails the next watches of a path", async () => {
    const open = await watch(NM_PATH, { resourceVersion: server.resourceVersion });
    const other = await watch(MP_PATH, { resourceVersion: server.resourceVersion });
    await until(() => server.openWatches === 2);
    server.errorWatches(500, "etcdserver: request timed out", /nodemonitors/);
    await until(() => open.done.length === 1);
    expect(open.events).toEqual([{ type: "ERROR", code: 500 }]);
    expect(server.openWatches).toBe(1);
    expect(other.events).toEqual([]);
    server.failWatches(/nodemonitors/, 2);
    const failed = [
      await watch(NM_PATH, { resourceVersion: server.resourceVersion }),
      await watch(NM_PATH, { resourceVersion: server.resourceVersion }),
    ];
    const third = await watch(NM_PATH, { resourceVersion: server.resourceVersion });
    await until(() => failed.every((f) => f.done.length === 1));
    expect(failed.map((f) => f.events)).toEqual([
      [{ type: "ERROR", code: 500 }],
      [{ type: "ERROR", code: 500 }],
    ]);
    server.create(nodeMonitor("after"));
    await until(() => third.events.length === 1);
    expect(types(third)).toEqual(["ADDED:after"]);
  });
});
