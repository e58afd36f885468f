import { describe, expect, it } from "vitest";
import { ManualTimers } from "../../../test/helpers/manual-timers.ts";
import type { LifecycleEventInfo } from "../client.ts";
import type { DomainStatsRecord } from "../remote.ts";
import { DaemonPool, type DaemonPoolOptions, type PoolClient } from "./daemon-pool.ts";
import type { DaemonTarget } from "./daemon-target.ts";

/** A daemon of one domain, as a test drives it: up or not, failing its calls or not. */
class FakeDaemon implements PoolClient {
  static inFlight = 0;
  static maxInFlight = 0;
  up = true;
  failStats = false;
  closed = false;
  connects = 0;
  lifecycle: ((e: LifecycleEventInfo) => void) | undefined;
  readonly socketPath: string;
  readonly uuid: string;
  hold: Promise<void> | undefined;
  constructor(socketPath: string, uuid: string) {
    this.socketPath = socketPath;
    this.uuid = uuid;
  }
  async connect(): Promise<void> {
    this.connects++;
    if (!this.up) throw new Error(`connect ${this.socketPath}: ECONNREFUSED`);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  async onLifecycle(h: (e: LifecycleEventInfo) => void): Promise<() => Promise<void>> {
    this.lifecycle = h;
    return async () => {
      this.lifecycle = undefined;
    };
  }
  async getAllDomainStats(): Promise<DomainStatsRecord[]> {
    FakeDaemon.inFlight++;
    FakeDaemon.maxInFlight = Math.max(FakeDaemon.maxInFlight, FakeDaemon.inFlight);
    try {
      await this.hold;
      if (this.failStats) throw new Error("libvirt connection closed");
      return [{ dom: { name: `ns_${this.uuid}`, uuid: this.uuid, id: 1 }, params: [] }];
    } finally {
      FakeDaemon.inFlight--;
    }
  }
  async getXmlDesc(): Promise<string> {
    return "<domain/>";
  }
}

function harness(initial: DaemonTarget[], extra: Partial<DaemonPoolOptions> = {}) {
  let targets = initial;
  let now = 0;
  const clients = new Map<string, FakeDaemon[]>();
  const behaviour = new Map<string, Partial<FakeDaemon>>();
  const forgotten: string[] = [];
  const events: string[] = [];
  const pool = new DaemonPool({
    discovery: { targets: async () => targets, close: async () => {} },
    client: (t) => {
      const c = Object.assign(new FakeDaemon(t.socketPath, `uuid-${t.key}`), behaviour.get(t.key) ?? {});
      clients.set(t.key, [...(clients.get(t.key) ?? []), c]);
      return c;
    },
    onLifecycle: (e, d) => events.push(`${d.target.key}:${e.event}`),
    onForget: (s) => forgotten.push(s),
    retry: { initial: 1000, max: 8000, random: () => 0.5 },
    now: () => now,
    ...extra,
  });
  return {
    pool,
    clients,
    behaviour,
    forgotten,
    events,
    set: (t: DaemonTarget[]) => {
      targets = t;
    },
    advance: (ms: number) => {
      now += ms;
    },
    last: (key: string) => clients.get(key)?.at(-1) as FakeDaemon,
  };
}

const target = (key: string, vmi?: string): DaemonTarget => ({
  key,
  socketPath: `/kubelet/${key}/virtqemud-sock-ro`,
  ...(vmi ? { vmi: { namespace: "ns", name: vmi } } : {}),
});

describe("DaemonPool", () => {
  it("keeps one client per discovered daemon, opening and closing them as daemons come and go", async () => {
    const h = harness([target("a", "vm-a"), target("b", "vm-b")]);
    const first = await h.pool.read(0);
    expect(first.errors).toEqual([]);
    expect(first.reads.map((r) => r.records[0]?.dom.uuid).sort()).toEqual(["uuid-a", "uuid-b"]);
    h.set([target("b", "vm-b"), target("c", "vm-c")]);
    const second = await h.pool.read(0);
    expect(second.reads.map((r) => r.daemon.target.key).sort()).toEqual(["b", "c"]);
    expect(h.last("a").closed).toBe(true);
    expect(h.last("a").lifecycle).toBeUndefined();
    expect(h.forgotten).toEqual(["/kubelet/a/virtqemud-sock-ro"]);
    // b kept its one client; lifecycle events say which daemon they came from.
    expect(h.clients.get("b")).toHaveLength(1);
    h.last("c").lifecycle?.({ domain: { name: "ns_c", uuid: "uuid-c", id: 1 }, event: "crashed", detail: 0 });
    expect(h.events).toEqual(["c:crashed"]);
    await h.pool.close();
    expect(h.last("b").closed && h.last("c").closed).toBe(true);
  });

  it("isolates a failing daemon: its VMs are unread, named in one error, and the others are read", async () => {
    const h = harness([target("a", "vm-a"), target("b", "vm-b")]);
    await h.pool.read(0);
    h.last("a").failStats = true;
    const r = await h.pool.read(0);
    expect(r.reads.map((x) => x.daemon.target.key)).toEqual(["b"]);
    expect(r.unread).toEqual(["uuid-a"]);
    expect(r.errors).toEqual(["daemon of ns/vm-a: libvirt connection closed"]);
    // The pod is still there: the client stays (it reconnects by itself) and is read again once it answers.
    h.last("a").failStats = false;
    expect((await h.pool.read(0)).reads).toHaveLength(2);
    expect(h.clients.get("a")).toHaveLength(1);
  });

  it("retries a daemon that is not up yet with backoff on the injected clock", async () => {
    const h = harness([target("a")]);
    h.behaviour.set("a", { up: false });
    const r = await h.pool.read(0);
    expect(r.reads).toEqual([]);
    expect(r.errors).toEqual(["daemon of pod a: connect /kubelet/a/virtqemud-sock-ro: ECONNREFUSED"]);
    expect(h.last("a").closed).toBe(true);
    // 1 s (random 0.5: no jitter) must pass before the next attempt.
    h.advance(999);
    await h.pool.read(0);
    expect(h.clients.get("a")).toHaveLength(1);
    h.advance(1);
    await h.pool.read(0);
    expect(h.clients.get("a")).toHaveLength(2);
    // Then 2 s; the daemon is up by then.
    h.behaviour.set("a", { up: true });
    h.advance(1999);
    await h.pool.read(0);
    expect(h.clients.get("a")).toHaveLength(2);
    h.advance(1);
    const up = await h.pool.read(0);
    expect(up.errors).toEqual([]);
    expect(up.reads).toHaveLength(1);
    // A pending daemon whose pod goes is forgotten too.
    h.behaviour.set("b", { up: false });
    h.set([target("a"), target("b")]);
    await h.pool.read(0);
    h.set([target("a")]);
    await h.pool.read(0);
    expect(h.forgotten).toEqual(["/kubelet/b/virtqemud-sock-ro"]);
  });

  it("goes on without a hung daemon after the deadline, and does not call it again until it answers", async () => {
    const timers = new ManualTimers();
    let answer!: () => void;
    const hung = new Promise<void>((r) => {
      answer = r;
    });
    const h = harness([target("a", "vm-a"), target("b", "vm-b")], { deadline: 500, timers });
    await h.pool.read(0);
    h.last("a").hold = hung;
    const reading = h.pool.read(0);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    timers.advance(499);
    let settled = false;
    void reading.then(() => {
      settled = true;
    });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    timers.advance(1);
    const r = await reading;
    expect(r.reads.map((x) => x.daemon.target.key)).toEqual(["b"]);
    expect(r.unread).toEqual(["uuid-a"]);
    expect(r.errors).toEqual(["daemon of ns/vm-a: no stats within 500 ms"]);
    const calls = FakeDaemon.inFlight;
    const again = await h.pool.read(0);
    expect(again.errors).toEqual(["daemon of ns/vm-a: still answering the previous stats call"]);
    expect(FakeDaemon.inFlight).toBe(calls);
    answer();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect((await h.pool.read(0)).reads).toHaveLength(2);
  });

  it("reads at most `concurrency` daemons at once", async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => {
      release = r;
    });
    const targets = Array.from({ length: 20 }, (_, i) => target(`d${i}`));
    const h = harness(targets);
    for (const t of targets) h.behaviour.set(t.key, { hold });
    FakeDaemon.maxInFlight = 0;
    const reading = h.pool.read(0);
    await new Promise((r) => setImmediate(r));
    expect(FakeDaemon.inFlight).toBe(8);
    release();
    const r = await reading;
    expect(r.reads).toHaveLength(20);
    expect(FakeDaemon.maxInFlight).toBe(8);
  });
});
