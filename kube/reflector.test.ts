import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../test/fake-apiserver/index.ts";
import type { KubeWatcher } from "./api.ts";
import { clientNodeWatcher, clusterCustomObjectLister } from "./client-node-api.ts";
import { apiLister, type KubeObject, type ListResult, Reflector, type ReflectorEvent } from "./reflector.ts";
import type { Timers } from "./timers.ts";

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

// The reflector runs the same against both clients: the agent's own (KubeRestClient) and client-node's, the
// operator's.
const CLIENTS: {
  name: string;
  make: (api: FakeApiServer) => { watcher: KubeWatcher; list: () => Promise<ListResult<KubeObject>> };
}[] = [
  {
    name: "the agent's KubeRestClient",
    make: (api) => {
      const client = api.restClient();
      return { watcher: client, list: apiLister<KubeObject>(client, PATH) };
    },
  },
  {
    name: "client-node",
    make: (api) => {
      const kc = api.kubeConfig();
      return {
        watcher: clientNodeWatcher(kc),
        list: clusterCustomObjectLister<KubeObject>(kc, {
          group: "vesmon.io",
          version: "v1alpha1",
          plural: "nodemonitors",
        }),
      };
    },
  },
];

let api: FakeApiServer;
let reflector: Reflector<KubeObject> | undefined;
afterEach(async () => {
  reflector?.stop();
  await api?.close();
});

let client = CLIENTS[0]!;

async function start(
  opts: { bookmarkIntervalMs?: number; watchdogMs?: number; transform?: (o: KubeObject) => KubeObject } = {},
) {
  api = new FakeApiServer(opts.bookmarkIntervalMs ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {});
  await api.start();
  const events: string[] = [];
  reflector = new Reflector<KubeObject>({
    ...client.make(api),
    path: PATH,
    backoff: { initial: 20, max: 100 },
    ...(opts.watchdogMs ? { watchdogMs: opts.watchdogMs } : {}),
    ...(opts.transform ? { transform: opts.transform } : {}),
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

/**
 * A virtual clock: timers up to `horizonMs` fire in due order, each a millisecond of real time after the
 * previous, and move `now()` to their due time; longer ones (the watchdog) never fire. Delays are recorded.
 */
function virtualTimers(horizonMs = 120_000) {
  let now = 0;
  const pending = new Map<number, { due: number; fn: () => void }>();
  const delays: number[] = [];
  let id = 0;
  let pump: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (pump) return;
    pump = setTimeout(() => {
      pump = undefined;
      const next = [...pending.entries()].sort((a, b) => a[1].due - b[1].due)[0];
      if (!next) return;
      pending.delete(next[0]);
      now = Math.max(now, next[1].due);
      next[1].fn();
      schedule();
    }, 1);
  };
  const timers: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const handle = ++id;
      if (ms > horizonMs) return handle;
      delays.push(ms);
      pending.set(handle, { due: now + ms, fn });
      schedule();
      return handle;
    },
    clearTimeout: (h) => {
      pending.delete(h as number);
    },
  };
  return { timers, delays, now: () => now };
}

/** A pino logger that keeps its lines. */
function memoryLog() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino(
    { level: "debug" },
    { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  return { log, lines, warnings: () => lines.filter((l) => l.level >= 40).map((l) => l.msg) };
}

describe.each(CLIENTS)("Reflector through $name", (c) => {
  beforeEach(() => {
    client = c;
  });

  describe("against the fake API server", () => {
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

    it("caches and hands on listed and watched objects as the transform returns them, with the old one on MODIFIED", async () => {
      const seen: ReflectorEvent<KubeObject>[] = [];
      const t = await start({
        transform: (o) => ({
          metadata: { ...o.metadata, name: o.metadata.name, slim: true } as KubeObject["metadata"],
        }),
      });
      api.create(nm("a"));
      reflector!.start((e) => {
        seen.push(e);
        t.handler(e);
      });
      await reflector!.synced;
      api.update(nm("a", "5s"));
      api.create(nm("b"));
      await until(() => t.events.length === 3, "three events");
      expect(t.events).toEqual(["ADDED a", "MODIFIED a", "ADDED b"]);
      for (const e of seen) expect(Object.keys(e.object)).toEqual(["metadata"]);
      expect(seen.every((e) => (e.object.metadata as { slim?: boolean }).slim)).toBe(true);
      expect(seen[1]?.old).toBe(seen[0]?.object);
      for (const o of reflector!.cache.values()) expect(Object.keys(o)).toEqual(["metadata"]);
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

  describe("under failing watches", () => {
    it("backs off from 800 ms, doubling to 30 s, on a storm of ERROR events, and logs the failure once", async () => {
      api = new FakeApiServer();
      await api.start();
      const clock = virtualTimers();
      const logs = memoryLog();
      const storm = 12;
      api.failWatches(new RegExp(`^${PATH.replaceAll(".", "\\.")}$`), storm);
      const events: string[] = [];
      reflector = new Reflector<KubeObject>({
        ...client.make(api),
        path: PATH,
        timers: clock.timers,
        random: () => 0.5,
        log: logs.log,
      });
      reflector.start((e) => events.push(`${e.type} ${e.object.metadata.name}`));
      await until(() => watchRequests().length > storm, "a watch after the storm");
      // One backoff before each watch after a failed one: 1.2 s, 2.4 s, ... then 45 s (30 s stretched by half).
      expect(clock.delays.slice(0, storm)).toEqual([
        1200, 2400, 4800, 9600, 19_200, 38_400, 45_000, 45_000, 45_000, 45_000, 45_000, 45_000,
      ]);
      expect(watchRequests().length).toBe(storm + 1);
      // client-go relists after every failed watch: what the stream missed may be gone.
      expect(reflector.lists).toBe(storm + 1);
      api.create(nm("a"));
      await until(() => events.includes("ADDED a"), "an event after the storm");
      expect(logs.warnings()).toEqual(["watch failed; backing off"]);
      expect(logs.lines.filter((l) => l.msg === "list and watch recovered")).toHaveLength(1);
      expect(reflector.failures).toBe(storm);
    });

    it("relists when the server has not seen the watch's resourceVersion (504 too large resource version)", async () => {
      api = new FakeApiServer();
      await api.start();
      const clock = virtualTimers();
      const { watcher, list: real } = client.make(api);
      let lists = 0;
      reflector = new Reflector<KubeObject>({
        watcher,
        path: PATH,
        // The first answer comes from a replica ahead of the one that serves the watch.
        list: async () => {
          const r = await real();
          return lists++ === 0 ? { ...r, resourceVersion: String(Number(r.resourceVersion) + 50) } : r;
        },
        timers: clock.timers,
        random: () => 0,
      });
      const events: string[] = [];
      reflector.start((e) => events.push(`${e.type} ${e.object.metadata.name}`));
      await until(() => reflector!.lists === 2, "a relist");
      expect(clock.delays[0]).toBe(800);
      api.create(nm("b"));
      await until(() => events.includes("ADDED b"), "an event after the relist");
      expect(watchRequests().map((r) => new URLSearchParams(r.query).get("resourceVersion"))).toEqual([
        String(Number(api.resourceVersion) + 49),
        String(Number(api.resourceVersion) - 1),
      ]);
    });
  });
});
