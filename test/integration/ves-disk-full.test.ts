import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ListenerProcess } from "../../agent/listener/process.ts";
import { VesSinkRunner } from "../../agent/sinks/ves-sink.ts";
import { receivedIds, sinkSpec, startListener, until } from "../helpers/delivery.ts";
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
});
