import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { node, until } from "./fixtures.ts";
import { FakeApiServer } from "./index.ts";

const LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

let server: FakeApiServer;
let abort: AbortController;

beforeEach(async () => {
  server = new FakeApiServer();
  await server.start();
  abort = new AbortController();
});
afterEach(async () => {
  abort.abort();
  await server.close();
});

const get = (path: string, accept?: string) =>
  fetch(`${server.url}${path}`, { headers: accept ? { Accept: accept } : {}, signal: abort.signal });

/** A Node as a kubelet reports it: a status far larger than its metadata. */
function fatNode(name: string) {
  const n = node(name, { zone: "a" });
  n.status = { images: [{ names: ["registry/image:1"], sizeBytes: 1 }], conditions: [{ type: "Ready" }] };
  return n;
}

describe("metadata-only lists, gets and watches (PartialObjectMetadata)", () => {
  it("lists PartialObjectMetadataList with metadata only, and whole objects without the Accept", async () => {
    server.create(fatNode("n1"));
    const meta = (await (await get("/api/v1/nodes", LIST)).json()) as Record<string, unknown> & {
      items: Record<string, unknown>[];
      metadata: { resourceVersion: string };
    };
    expect(meta.apiVersion).toBe("meta.k8s.io/v1");
    expect(meta.kind).toBe("PartialObjectMetadataList");
    expect(meta.metadata.resourceVersion).toBe(server.resourceVersion);
    expect(meta.items).toHaveLength(1);
    const item = meta.items[0]!;
    expect(Object.keys(item).sort()).toEqual(["apiVersion", "kind", "metadata"]);
    expect(item).toMatchObject({
      apiVersion: "meta.k8s.io/v1",
      kind: "PartialObjectMetadata",
      metadata: { name: "n1", labels: { zone: "a" } },
    });
    const full = (await (await get("/api/v1/nodes")).json()) as {
      kind: string;
      items: { status?: unknown }[];
    };
    expect(full.kind).toBe("NodeList");
    expect(full.items[0]?.status).toBeDefined();
  });

  it("gets one object as PartialObjectMetadata", async () => {
    server.create(fatNode("n1"));
    const one = (await (await get("/api/v1/nodes/n1", ONE)).json()) as Record<string, unknown>;
    expect(Object.keys(one).sort()).toEqual(["apiVersion", "kind", "metadata"]);
    expect(one.kind).toBe("PartialObjectMetadata");
  });

  it("refuses a metadata kind that does not fit the response, and falls back to a later media type", async () => {
    server.create(fatNode("n1"));
    expect((await get("/api/v1/nodes", ONE)).status).toBe(406);
    expect((await get("/api/v1/nodes/n1", LIST)).status).toBe(406);
    expect((await get("/api/v1/nodes", "application/json;as=Table;g=meta.k8s.io;v=v1")).status).toBe(406);
    const fallback = await get("/api/v1/nodes", `application/json;as=Table;g=meta.k8s.io;v=v1,${LIST}`);
    expect(((await fallback.json()) as { kind: string }).kind).toBe("PartialObjectMetadataList");
  });

  it("watches with every event as PartialObjectMetadata", async () => {
    server.create(fatNode("n1"));
    const res = await get("/api/v1/nodes?watch=true&allowWatchBookmarks=true", ONE);
    expect(res.status).toBe(200);
    const events: { type: string; object: Record<string, unknown> }[] = [];
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buffered += value;
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const l of lines) if (l) events.push(JSON.parse(l));
      }
    })();
    await until(() => server.openWatches === 1);
    const stored = server.get("v1", "Node", "n1")!;
    server.updateStatus({ ...stored, status: { conditions: [{ type: "Ready", status: "False" }] } });
    server.delete("v1", "Node", "n1");
    await until(() => events.filter((e) => e.type !== "BOOKMARK").length === 3);
    expect(events.filter((e) => e.type !== "BOOKMARK").map((e) => e.type)).toEqual([
      "ADDED",
      "MODIFIED",
      "DELETED",
    ]);
    for (const e of events) {
      expect(Object.keys(e.object).sort()).toEqual(["apiVersion", "kind", "metadata"]);
      expect(e.object.kind).toBe("PartialObjectMetadata");
    }
    // A status-only update (a kubelet's heartbeat) still reaches metadata-only watchers, with a new RV.
    const rvs = events
      .filter((e) => e.type !== "BOOKMARK")
      .map((e) => Number((e.object.metadata as { resourceVersion: string }).resourceVersion));
    expect(rvs[1]).toBeGreaterThan(rvs[0]!);
    abort.abort();
    await pump;
  });
});
