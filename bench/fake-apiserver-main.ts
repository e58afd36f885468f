import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { FakeApiServer, type K8sObject, type RecordedRequest } from "../test/fake-apiserver/index.ts";
import { benchNode } from "./operator-scale-fixture.ts";
import { heartbeatStatus } from "./operator-scale-nodes.ts";

// The fake API server of the operator-scale benchmark, in a process of its own so that its CPU is not
// counted with the benchmark's or the operator's. The parent (bench/operator-scale.ts) forks it with an IPC
// channel, seeds it through the direct API (not recorded as requests), and is told when the stored state
// meets the expectation it sent. Convergence is followed from the recorded write requests: every write to a
// NodeMonitor or a profile status marks that object to be read back, so a check never walks the whole store.
// It also plays the kubelets: realistic Nodes seeded here (not sent over IPC), and their periodic status
// reports, status-only updates through the store as kube-apiserver commits a PUT to nodes/<name>/status.

/** What the parent expects of one profile's status. */
export interface ProfileExpectation {
  generation: number;
  selectedNodes: number;
}

/** Commands from the parent; each is answered with a `reply` carrying the same id. */
export type FakeCommand =
  | { id: number; cmd: "seed"; objects: K8sObject[] }
  /** Creates nodes 0…count-1 as a kubelet leaves them (about 15 KB each). */
  | { id: number; cmd: "seedNodes"; count: number }
  /** Starts kubelet-like status reports at `perSecond` updates/s, round robin over the Nodes; 0 stops them. */
  | { id: number; cmd: "churn"; perSecond: number }
  | {
      id: number;
      cmd: "expect";
      /** Node name to its expected `nodeMonitorKey` (the names of the profiles that select it). */
      nodes: Record<string, string>;
      profiles: Record<string, ProfileExpectation>;
    }
  | { id: number; cmd: "update"; object: K8sObject }
  | { id: number; cmd: "mark" }
  /**
   * Requests in [from, to) by `classify`, plus `REPEAT <resource>` for writes identical to the previous one
   * and `BYTES <VERB resource>` for the bytes of the writes' bodies.
   */
  | { id: number; cmd: "counts"; from: number; to: number }
  /** The stored sizes of NodeMonitors and Nodes, as `ObjectSizes`. */
  | { id: number; cmd: "sizes" }
  | { id: number; cmd: "close" };

/** Bytes of stored objects (compact JSON, as etcd holds them apart from protobuf framing). */
export interface ObjectSizes {
  nodeMonitors: { count: number; meanBytes: number; maxBytes: number };
  nodes: { count: number; meanBytes: number };
  /** Whether a NodeMonitor carries the specs of its profiles (`spec.profiles[].spec`), not only their names. */
  embedsSpecs: boolean;
}

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
  /** Node status reports made so far. */
  churnUpdates: number;
  /** The last write that was neither a Lease renewal nor a NodeMonitor status (an agent's): ms since the epoch. */
  lastOperatorWriteAt: number;
}

/** Messages to the parent. */
export type FakeMessage =
  | { type: "ready"; url: string }
  | { type: "reply"; id: number; ok: true; value: unknown }
  | { type: "reply"; id: number; ok: false; error: string }
  | { type: "converged"; epoch: number; at: number; index: number };

/**
 * The key a NodeMonitor is compared by: the names of the profiles it lists, sorted. Whether it embeds their
 * specs or only names them, a NodeMonitor names the profiles that select its node, so this holds for both.
 */
export function nodeMonitorKey(profiles: readonly { name: string }[]) {
  return profiles
    .map((p) => p.name)
    .sort()
    .join("|");
}

/** Bytes of a recorded request's body as the client sent it (compact JSON; the raw text otherwise). */
export function bodyBytes(body: unknown): number {
  if (body === undefined) return 0;
  return Buffer.byteLength(typeof body === "string" ? body : JSON.stringify(body));
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
  const bytes: number[] = [];
  /** Each NodeMonitor's size as last read back, and whether any carried its profiles' specs. */
  const nmBytes = new Map<string, number>();
  let embedsSpecs = false;
  /** The Nodes seedNodes made, which the churn reports for. */
  const nodeNames: string[] = [];
  let lastOperatorWriteAt = 0;
  let churn: ReturnType<typeof setInterval> | undefined;
  let churnUpdates = 0;
  let churnNext = 0;

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
      bytes[scanned] = bodyBytes(r.body);
      const resource = classify(r).split(" ")[1];
      if (resource !== "leases" && resource !== "nodemonitors/status") lastOperatorWriteAt = Date.now();
      const nm = NM_PATH.exec(r.path)?.[1];
      if (nm) dirtyNodes.add(decodeURIComponent(nm));
      const mp = MP_STATUS_PATH.exec(r.path)?.[1];
      if (mp) dirtyProfiles.add(decodeURIComponent(mp));
    }
    for (const name of dirtyNodes) {
      const obj = getNm(name) as { spec?: { profiles?: { name: string }[] } } | undefined;
      if (obj) {
        existing.add(name);
        nmBytes.set(name, Buffer.byteLength(JSON.stringify(obj)));
        embedsSpecs ||= (obj.spec?.profiles ?? []).some((p) => (p as { spec?: unknown }).spec !== undefined);
      } else {
        existing.delete(name);
        nmBytes.delete(name);
      }
      const want = nodes.get(name);
      if (want === undefined) continue;
      const have = obj ? nodeMonitorKey(obj.spec?.profiles ?? []) : undefined;
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

  // One status report: the next node in a fixed stride order (consecutive reports hit distant nodes, as
  // independent kubelets do), its conditions' heartbeat moved to now.
  const report = (names: readonly string[]) => {
    const name = names[(churnNext++ * 7919) % names.length]!;
    const node = server.get("v1", "Node", name);
    if (!node) return;
    const heartbeat = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    server.updateStatus({
      ...node,
      status: heartbeatStatus(node.status as Record<string, unknown>, heartbeat),
    });
    churnUpdates++;
  };
  const startChurn = (perSecond: number) => {
    if (churn) clearInterval(churn);
    churn = undefined;
    if (perSecond <= 0) return;
    const names = nodeNames;
    if (names.length === 0) throw new Error("no Node to churn: seedNodes first");
    // Catch up from a start time rather than count ticks, so a late timer does not lower the rate.
    const since = Date.now();
    const base = churnUpdates;
    churn = setInterval(() => {
      const due = Math.floor(((Date.now() - since) / 1000) * perSecond) - (churnUpdates - base);
      for (let k = 0; k < due; k++) report(names);
    }, 20);
  };

  const handle = (c: FakeCommand): unknown => {
    switch (c.cmd) {
      case "seed":
        for (const o of c.objects) server.create(o);
        return c.objects.length;
      case "seedNodes": {
        const heartbeat = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
        for (let i = 0; i < c.count; i++)
          nodeNames.push(server.create(benchNode(i, heartbeat)).metadata.name);
        return c.count;
      }
      case "churn":
        startChurn(c.perSecond);
        return churnUpdates;
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
          churnUpdates,
          lastOperatorWriteAt,
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
          if (bytes[i]) out[`BYTES ${k}`] = (out[`BYTES ${k}`] ?? 0) + bytes[i]!;
        }
        return out;
      }
      case "sizes": {
        // From the sizes noted as each NodeMonitor was read back, and a sample of Nodes: serialising every
        // object at once would stall this process for seconds at 5000 nodes, and the operator's lease with it.
        const nms = [...nmBytes.values()];
        const sample = server.list(
          "v1",
          "Node",
          undefined,
          (() => {
            let k = 0;
            return () => k++ % 100 === 0;
          })(),
        );
        const nodeSizes = sample.map((o) => Buffer.byteLength(JSON.stringify(o)));
        const mean = (v: number[]) => (v.length ? Math.round(v.reduce((a, b) => a + b, 0) / v.length) : 0);
        return {
          nodeMonitors: {
            count: nms.length,
            meanBytes: mean(nms),
            maxBytes: nms.reduce((a, b) => Math.max(a, b), 0),
          },
          nodes: { count: nodeNames.length, meanBytes: mean(nodeSizes) },
          embedsSpecs,
        } satisfies ObjectSizes;
      }
      case "close":
        if (churn) clearInterval(churn);
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
