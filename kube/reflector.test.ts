import { CustomObjectsApi } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../test/fake-apiserver/index.ts";
import { type KubeObject, Reflector, type ReflectorEvent } from "./reflector.ts";

const PATH = "/apis/vesmon.io/v1alpha1/nodemonitors";
const nm = (name: string, interval = "10s") => ({
  apiVersion: "vesmon.io/v1alpha1",
  kind: "NodeMonitor",
  metadata: { name },
  spec: {
    nodeName: name,
    configHash: "sha256:0123456789abcdef",
    profiles: [
      {
        name: "p",
        generation: 1,
        spec: { collectors: [{ name: "cpu", interval }], sinks: [{ name: "o", stdout: {} }] },
      },
    ],
  },
});

let api: FakeApiServer;
let reflector: Reflector<KubeObject> | undefined;
afterEach(async () => {
  reflector?.stop();
  await api?.close();
});

async function start(opts: { bookmarkIntervalMs?: number; watchdogMs?: number } = {}) {
  api = new FakeApiServer(opts.bookmarkIntervalMs ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {});
  await api.start();
  const kc = api.kubeConfig();
  const custom = kc.makeApiClient(CustomObjectsApi);
  const events: string[] = [];
  reflector = new Reflector<KubeObject>({
    kubeConfig: kc,
    path: PATH,
    list: async () => {
      const r = (await custom.listClusterCustomObject({
        group: "vesmon.io",
        version: "v1alpha1",
        plural: "nodemonitors",
      })) as {
        items: KubeObject[];
        metadata: { resourceVersion: string };
      };
      return { items: r.items, resourceVersion: r.metadata.resourceVersion };
    },
    backoff: { initial: 20, max: 100 },
    ...(opts.watchdogMs ? { watchdogMs: opts.watchdogMs } : {}),
  });
  return {
    events,
    handler: (e: ReflectorEvent<KubeObject>) => events.push(`${e.type} ${e.object.metadata.name}`),
  };
}

async function until(check: () => boolean, what: string) {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const watchRequests = () => api.requests.filter((r) => r.path === PATH && /watch=(true|1)/.test(r.query));

describe("Reflector against the fake API server", () => {
  it("lists, then follows adds, changes and deletes from the list's resourceVersion with bookmarks", async () => {
    const t = await start();
    api.create(nm("a"));
    reflector!.start(t.handler);
    await reflector!.synced;
    api.create(nm("b"));
    api.update(nm("a", "5s"));
    api.delete("vesmon.io/v1alpha1", "NodeMonitor", "b");
    await until(() => t.events.length === 4, "four events");
    expect(t.events).toEqual(["ADDED a", "ADDED b", "MODIFIED a", "DELETED b"]);
    expect([...reflector!.cache.keys()]).toEqual(["a"]);
    expect(watchRequests()[0]?.query).toMatch(/allowWatchBookmarks=true/);
    expect(watchRequests()[0]?.query).toMatch(/resourceVersion=\d+/);
  });

  it("relists after a 410 and reports what it missed as a diff", async () => {
    const t = await start();
    api.create(nm("a"));
    api.create(nm("b"));
    reflector!.start(t.handler);
    await until(() => t.events.length === 2, "initial adds");
    api.failNext("GET", new RegExp(`^${PATH.replaceAll(".", "\\.")}$`), 410);
    api.cutWatches();
    await until(() => reflector!.lists === 2, "a relist");
    api.delete("vesmon.io/v1alpha1", "NodeMonitor", "b");
    api.create(nm("c"));
    await until(() => t.events.length === 4, "the changes after the relist");
    expect(t.events.slice(2)).toEqual(["DELETED b", "ADDED c"]);
  });

  it("restarts a watch that stays silent longer than the watchdog allows", async () => {
    const t = await start({ bookmarkIntervalMs: 60_000, watchdogMs: 300 });
    reflector!.start(t.handler);
    await reflector!.synced;
    await until(() => watchRequests().length >= 3, "watches restarted by the watchdog");
    api.create(nm("late"));
    await until(() => t.events.includes("ADDED late"), "an event after the restarts");
  });
});
