import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { FakeApiServer, type K8sObject, type RecordedRequest } from "../test/fake-apiserver/index.ts";

// The fake API server of the operator-scale benchmark, in a process of its own so that its CPU is not
// counted with the benchmark's or the operator's. The parent (bench/operator-scale.ts) forks it with an IPC
// channel, seeds it through the direct API (not recorded as requests), and is told when the stored state
// meets the expectation it sent. Convergence is followed from the recorded write requests: every write to a
// NodeMonitor or a profile status marks that object to be read back, so a check never walks the whole store.

/** What the parent expects of one profile's status. */
export interface ProfileExpectation {
  generation: number;
  selectedNodes: number;
}

/** Commands from the parent; each is answered with a `reply` carrying the same id. */
export type FakeCommand =
  | { id: number; cmd: "seed"; objects: K8sObject[] }
  | {
      id: number;
      cmd: "expect";
      /** Node name to its expected `nodeMonitorKey`. */
      nodes: Record<string, string>;
      profiles: Record<string, ProfileExpectation>;
    }
  | { id: number; cmd: "update"; object: K8sObject }
  | { id: number; cmd: "mark" }
  /** Requests in [from, to) by `classify`, plus `REPEAT <resource>` for writes identical to the previous one. */
  | { id: number; cmd: "counts"; from: number; to: number }
  | { id: number; cmd: "close" };

/** The state of the server at one moment, as `mark` answers. */
export interface FakeMark {
  /** Requests recorded so far: the start of the next window. */
  index: number;
  at: number;
  /** utime + stime of this process, and the part spent on the benchmark's own bookkeeping. */
  cpuSeconds: number;
  bookkeepingCpuSeconds: number;
  rssMiB: number;
  pendingNodeMonitors: number;
  pendingProfiles: number;
  unexpectedNodeMonitors: number;
}

/** Messages to the parent. */
export type FakeMessage =
  | { type: "ready"; url: string }
  | { type: "reply"; id: number; ok: true; value: unknown }
  | { type: "reply"; id: number; ok: false; error: string }
  | { type: "converged"; epoch: number; at: number; index: number };

/** The key a NodeMonitor is compared by: each profile's name, generation and measurement interval. */
export function nodeMonitorKey(profiles: readonly { name: string; generation: number; interval: string }[]) {
  return profiles
    .map((p) => `${p.name}@${p.generation}@${p.interval}`)
    .sort()
    .join("|");
}

const NM_PATH = /^\/apis\/vesmon\.io\/v1alpha1\/nodemonitors\/([^/]+)/;
const MP_STATUS_PATH = /^\/apis\/vesmon\.io\/v1alpha1\/monitoringprofiles\/([^/]+)\/status$/;

/** `VERB resource` of a request: LIST/GET/WATCH or the write method, and the plural (with `/status`). */
export function classify(r: Pick<RecordedRequest, "method" | "path" | "query">): string {
  const segments = r.path.split("/").filter((s) => s !== "");
  let rest = segments[0] === "api" ? segments.slice(2) : segments[0] === "apis" ? segments.slice(3) : [];
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  const resource = rest.length === 0 ? "discovery" : `${rest[0]}${rest[2] ? `/${rest[2]}` : ""}`;
  if (r.method !== "GET") return `${r.method} ${resource}`;
  if (rest.length === 0) return "GET discovery";
  if (/(^|&)watch=(true|1)(&|$)/.test(r.query)) return `WATCH ${resource}`;
  return `${rest.length <= 1 ? "LIST" : "GET"} ${resource}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { kubeconfig: { type: "string" } } });
  const send = (m: FakeMessage) => process.send?.(m);
  const server = new FakeApiServer();
  const url = await server.start();
  if (values.kubeconfig) await writeFile(values.kubeconfig, server.kubeConfig().exportConfig());

  let nodes = new Map<string, string>();
  let profiles = new Map<string, ProfileExpectation>();
  const nodeOk = new Map<string, boolean>();
  const profileOk = new Map<string, boolean>();
  const existing = new Set<string>();
  const dirtyNodes = new Set<string>();
  const dirtyProfiles = new Set<string>();
  let scanned = 0;
  const lastBody = new Map<string, string>();
  const repeats = new Set<number>();
  let epoch = 0;
  let converged = true;
  let bookkeeping = 0;

  const timed = <T>(fn: () => T): T => {
    const start = process.cpuUsage();
    try {
      return fn();
    } finally {
      const d = process.cpuUsage(start);
      bookkeeping += (d.user + d.system) / 1e6;
    }
  };
  const getNm = (name: string) => server.get("vesmon.io/v1alpha1", "NodeMonitor", name);
  const pending = () => {
    let nm = 0;
    for (const ok of nodeOk.values()) if (!ok) nm++;
    let mp = 0;
    for (const ok of profileOk.values()) if (!ok) mp++;
    let unexpected = 0;
    for (const name of existing) if (!nodes.has(name)) unexpected++;
    return { nm, mp, unexpected };
  };
  const check = () => {
    for (; scanned < server.requests.length; scanned++) {
      const r = server.requests[scanned]!;
      if (r.method === "GET") continue;
      // A write whose body is the previous write's to the same object, byte for byte, changed nothing.
      const body = JSON.stringify(r.body ?? null);
      const key = `${r.method} ${r.path}`;
      if (lastBody.get(key) === body) repeats.add(scanned);
      lastBody.set(key, body);
      const nm = NM_PATH.exec(r.path)?.[1];
      if (nm) dirtyNodes.add(decodeURIComponent(nm));
      const mp = MP_STATUS_PATH.exec(r.path)?.[1];
      if (mp) dirtyProfiles.add(decodeURIComponent(mp));
    }
    for (const name of dirtyNodes) {
      const obj = getNm(name) as
        | {
            spec?: {
              profiles?: {
                name: string;
                generation: number;
                spec: { events?: { measurementInterval?: string } };
              }[];
            };
          }
        | undefined;
      if (obj) existing.add(name);
      else existing.delete(name);
      const want = nodes.get(name);
      if (want === undefined) continue;
      const have = obj
        ? nodeMonitorKey(
            (obj.spec?.profiles ?? []).map((p) => ({
              name: p.name,
              generation: p.generation,
              interval: p.spec.events?.measurementInterval ?? "",
            })),
          )
        : undefined;
      nodeOk.set(name, have === want);
    }
    dirtyNodes.clear();
    for (const name of dirtyProfiles) {
      const want = profiles.get(name);
      if (!want) continue;
      const obj = server.get("vesmon.io/v1alpha1", "MonitoringProfile", name) as
        | {
            metadata: { generation?: number };
            status?: { observedGeneration?: number; selectedNodes?: number };
          }
        | undefined;
      profileOk.set(
        name,
        obj?.metadata.generation === want.generation &&
          obj.status?.observedGeneration === want.generation &&
          obj.status.selectedNodes === want.selectedNodes,
      );
    }
    dirtyProfiles.clear();
    const p = pending();
    if (!converged && p.nm === 0 && p.mp === 0 && p.unexpected === 0) {
      converged = true;
      send({ type: "converged", epoch, at: Date.now(), index: scanned });
    }
  };
  setInterval(() => timed(check), 50);

  const handle = (c: FakeCommand): unknown => {
    switch (c.cmd) {
      case "seed":
        for (const o of c.objects) server.create(o);
        return c.objects.length;
      case "expect": {
        const previous = nodes;
        nodes = new Map(Object.entries(c.nodes));
        profiles = new Map(Object.entries(c.profiles));
        for (const name of [...nodeOk.keys()]) if (!nodes.has(name)) nodeOk.delete(name);
        for (const [name, key] of nodes) {
          // A node whose expectation did not change and that met it keeps its verdict; the rest are read.
          if (previous.get(name) === key && nodeOk.get(name)) continue;
          nodeOk.set(name, false);
          dirtyNodes.add(name);
        }
        profileOk.clear();
        for (const name of profiles.keys()) {
          profileOk.set(name, false);
          dirtyProfiles.add(name);
        }
        epoch++;
        converged = false;
        return epoch;
      }
      case "update": {
        const stored = server.update(c.object);
        return { at: Date.now(), generation: stored.metadata.generation };
      }
      case "mark": {
        const p = pending();
        const cpu = process.cpuUsage();
        return {
          index: server.requests.length,
          at: Date.now(),
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
          bookkeepingCpuSeconds: bookkeeping,
          rssMiB: process.memoryUsage().rss / 2 ** 20,
          pendingNodeMonitors: p.nm,
          pendingProfiles: p.mp,
          unexpectedNodeMonitors: p.unexpected,
        } satisfies FakeMark;
      }
      case "counts": {
        check();
        const out: Record<string, number> = {};
        const add = (k: string) => {
          out[k] = (out[k] ?? 0) + 1;
        };
        for (let i = c.from; i < Math.min(c.to, server.requests.length); i++) {
          const k = classify(server.requests[i]!);
          add(k);
          if (repeats.has(i)) add(`REPEAT ${k.slice(k.indexOf(" ") + 1)}`);
        }
        return out;
      }
      case "close":
        void server.close().then(() => process.exit(0));
        return true;
    }
  };
  process.on("message", (c: FakeCommand) => {
    try {
      send({ type: "reply", id: c.id, ok: true, value: timed(() => handle(c)) });
    } catch (err) {
      send({ type: "reply", id: c.id, ok: false, error: (err as Error).message });
    }
  });
  // The parent is gone (crashed or killed): nothing is left to serve.
  process.on("disconnect", () => process.exit(0));
  send({ type: "ready", url });
}

if (import.meta.main) await main();
