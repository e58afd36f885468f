import { PassThrough, Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.ts";
import { CollectorRegistry } from "../../agent/collectors/registry.ts";
import type { ListenerProcess } from "../../agent/listener/process.ts";
import { AgentMetrics } from "../../agent/metrics.ts";
import { answer } from "../../agent/server.ts";
import { VesSinkRunner } from "../../agent/sinks/ves-sink.ts";
import { receivedIds, sinkSpec, startListener, until } from "../helpers/delivery.ts";
import { ManualTimers } from "../helpers/manual-timers.ts";
import { mountTmpfs, type Tmpfs } from "../helpers/tmpfs.ts";
import { eventIds, heartbeats } from "../helpers/ves-events.ts";

// A real full disk: the spool lives on a 256 KiB tmpfs that a ballast file fills to the last byte, so the
// kernel answers ENOSPC (and short writes) exactly as it would on a node whose /var/lib filled up.
let fs: Tmpfs;
beforeAll(async () => {
  fs = await mountTmpfs(256 * 1024);
});
afterAll(async () => {
  await fs?.unmount();
});

const listeners: ListenerProcess[] = [];
const sinks: VesSinkRunner[] = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const l of listeners.splice(0)) await l.close();
  await fs.free();
});

/** A listener that is down: its port is known and refuses connections until `back()`. */
async function downListener(): Promise<{ url: string; back: () => Promise<ListenerProcess> }> {
  const l = await startListener();
  const port = l.port;
  await l.close();
  return {
    url: `http://127.0.0.1:${port}`,
    back: async () => {
      const up = await startListener({ port });
      listeners.push(up);
      return up;
    },
  };
}

async function openSink(url: string, dir: string): Promise<VesSinkRunner> {
  const s = await VesSinkRunner.open({
    name: "ves",
    vesVersion: "7.2.1",
    spoolDir: dir,
    spec: sinkSpec(url),
  });
  sinks.push(s);
  return s;
}

/** Samples the sink's queue accounting every 5 ms; `low()` is the smallest queued and queuedBytes seen. */
function watchQueue(get: () => VesSinkRunner) {
  let low = { queued: 0, queuedBytes: 0 };
  const timer = setInterval(() => {
    const st = get().status();
    low = { queued: Math.min(low.queued, st.queued), queuedBytes: Math.min(low.queuedBytes, st.queuedBytes) };
  }, 5);
  return { low: () => low, stop: () => clearInterval(timer) };
}

describe("VES delivery on a full disk (real tmpfs)", () => {
  it("refuses and counts what comes while the disk is full, and delivers everything else exactly once", async () => {
    const collector = await downListener();
    const dir = `${fs.dir}/spool-a`;
    let s = await openSink(collector.url, dir);
    const q = watchQueue(() => s);
    try {
      const all = heartbeats(60);
      const before = all.slice(0, 20);
      const refused = all.slice(20, 40);
      const after = all.slice(40);

      for (let i = 0; i < 20; i += 5) s.enqueue(before.slice(i, i + 5));
      await s.flushed();
      expect(s.status()).toMatchObject({ queued: 20, dropped: 0 });

      await fs.fill();
      for (let i = 0; i < 20; i += 5) s.enqueue(refused.slice(i, i + 5));
      await s.flushed();
      // Wait out a few delivery attempts against the dead collector on the full disk.
      await until(() => s.status().retries >= 3, "delivery attempts while the disk is full");
      // The segment's last page may still take a record or two (tmpfs allocates whole pages); the rest,
      // the newest, are refused and counted, never half-written.
      const refusedCount = s.status().droppedByReason?.disk_full ?? 0;
      expect(refusedCount).toBeGreaterThanOrEqual(15);
      const squeezedIn = refused.slice(0, 20 - refusedCount);
      expect(s.status()).toMatchObject({
        queued: 20 + squeezedIn.length,
        dropped: refusedCount,
        spool: { writable: false },
      });

      await fs.free();
      for (let i = 0; i < 20; i += 5) s.enqueue(after.slice(i, i + 5));
      await s.flushed();
      expect(s.status()).toMatchObject({
        queued: 40 + squeezedIn.length,
        dropped: refusedCount,
        spool: { writable: true },
      });

      // A restart in between loses nothing either.
      sinks.splice(sinks.indexOf(s), 1);
      await s.close();
      s = await openSink(collector.url, dir);
      expect(s.status()).toMatchObject({ queued: 40 + squeezedIn.length, dropped: 0 });

      const l = await collector.back();
      await until(() => s.status().queued === 0, "the queue drained", 30_000);
      const got = await receivedIds(l);
      expect(got).toEqual(eventIds([...before, ...squeezedIn, ...after] as never));
      expect(s.status()).toMatchObject({ delivered: 40 + squeezedIn.length, queuedBytes: 0 });
    } finally {
      q.stop();
    }
    expect(q.low()).toEqual({ queued: 0, queuedBytes: 0 });
  }, 60_000);

  it("keeps delivering while the disk is full: a cursor that cannot be written costs nothing", async () => {
    const collector = await downListener();
    const dir = `${fs.dir}/spool-b`;
    const s = await openSink(collector.url, dir);
    const q = watchQueue(() => s);
    try {
      const all = heartbeats(45);
      s.enqueue(all.slice(0, 30));
      await s.flushed();
      await fs.fill();
      const l = await collector.back();
      // Every ack now fails to write the cursor; delivery must go on, in order, once each.
      await until(async () => (await receivedIds(l)).length >= 30, "the spooled thirty", 30_000);
      expect(s.status().spool).toMatchObject({ cursorSaved: false });
      s.enqueue(all.slice(30, 35));
      await s.flushed();
      const refusedCount = s.status().droppedByReason?.disk_full ?? 0;
      expect(refusedCount).toBeGreaterThanOrEqual(3);
      const squeezedIn = all.slice(30, 35 - refusedCount);
      await fs.free();
      s.enqueue(all.slice(35));
      await until(() => s.status().delivered === 40 + squeezedIn.length, "the ten after the space came back");
      expect(await receivedIds(l)).toEqual(
        eventIds([...all.slice(0, 30), ...squeezedIn, ...all.slice(35)] as never),
      );
      expect(s.status()).toMatchObject({
        queued: 0,
        queuedBytes: 0,
        spool: { writable: true, cursorSaved: true },
      });
    } finally {
      q.stop();
    }
    expect(q.low()).toEqual({ queued: 0, queuedBytes: 0 });
  }, 60_000);

  it("an agent on a full disk stays ready, names the spool that refuses events, counts and logs once", async () => {
    const collector = await downListener();
    const timers = new ManualTimers();
    timers.advance(1_800_000_000_000);
    const logs: { msg: string; sink?: string; profile?: string; raw: string }[] = [];
    const log = pino(
      { level: "info" },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push({ ...(JSON.parse(chunk.toString()) as { msg: string }), raw: chunk.toString() });
          done();
        },
      }),
    );
    const agent = new Agent({
      registry: new CollectorRegistry(),
      env: { paths: undefined as never, now: () => timers.now(), log },
      timers,
      node: "n",
      stateDir: `${fs.dir}/agent-state`,
      credentialsDir: "/nonexistent",
      stdout: new PassThrough(),
      log,
    });
    const metricsOf = new AgentMetrics(agent);
    const get = (url: string) => answer(agent, metricsOf, "GET", url);
    const minute = async () => {
      timers.advance(60_000);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    const sink = () => agent.status().sinks[0]!;
    try {
      await agent.apply([
        {
          name: "p",
          generation: 1,
          spec: {
            collectors: [],
            events: {
              measurementInterval: "60s",
              heartbeatInterval: "60s",
              vesVersion: "7.2.1",
              mode: "host",
              naming: { eventNamePublisher: "Vesmon" },
            },
            faults: { vmLifecycle: false, collectorFailures: false },
            sinks: [{ name: "ves", ves: sinkSpec(collector.url) }],
            applyPolicy: "BestEffort",
          },
        },
      ]);
      await minute();
      await until(() => sink().queued === 1, "the first heartbeat spooled");
      await fs.fill();
      // Heartbeats until the spool refuses them (the segment's last page may still take one or two).
      for (let i = 0; i < 10 && sink().spool?.writable !== false; i++) {
        await minute();
        await new Promise((r) => setTimeout(r, 20));
      }
      await minute();
      await until(() => (sink().droppedByReason?.disk_full ?? 0) >= 2, "two refused heartbeats");
      const ready = await get("/readyz");
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.body)).toMatchObject({
        status: "ready",
        spools: [{ profile: "p", sink: "ves", writable: false, error: expect.stringMatching(/ENOSPC/) }],
      });
      const refused = sink().droppedByReason?.disk_full;
      const metrics = (await get("/metrics")).body;
      expect(metrics).toContain(
        `vesmon_sink_dropped_events_total{profile="p",sink="ves",kind="ves",reason="disk_full"} ${refused}`,
      );
      expect(metrics).toContain('vesmon_sink_spool_writable{profile="p",sink="ves",kind="ves"} 0');

      await fs.free();
      await minute();
      await until(() => sink().spool?.writable === true, "the spool writable again");
      expect(JSON.parse((await get("/readyz")).body)).toEqual({ status: "ready", applies: 1 });
      expect((await get("/metrics")).body).toContain(
        'vesmon_sink_spool_writable{profile="p",sink="ves",kind="ves"} 1',
      );
      // One line when the spool started refusing, one when it recovered; the delivery failure once too.
      const said = (re: RegExp) => logs.filter((l) => re.test(l.msg));
      expect(said(/^spool cannot write/)).toHaveLength(1);
      expect(said(/^spool writable again/)).toHaveLength(1);
      expect(said(/^VES delivery failing/)).toHaveLength(1);
      expect(said(/^spool cannot write/)[0]).toMatchObject({ profile: "p", sink: "ves" });
      // pino writes a key twice when a child binds it again (JSON.parse would hide that): read the raw lines.
      for (const line of [...said(/^spool cannot write/), ...said(/^VES delivery failing/)]) {
        expect(line.raw.match(/"profile":/g)).toHaveLength(1);
        expect(line.raw.match(/"sink":/g)).toHaveLength(1);
      }
    } finally {
      await agent.close();
    }
  }, 60_000);
});
