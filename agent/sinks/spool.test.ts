import { spawn } from "node:child_process";
import { appendFile, mkdir, mkdtemp, readdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Spool, type SpoolOptions } from "./spool.ts";

const dir = () => mkdtemp(join(tmpdir(), "vesmon-spool-"));
const rec = (i: number, size = 10) => Buffer.from(JSON.stringify({ i, p: "x".repeat(size) }));
const ids = (records: { payload: Buffer }[]) =>
  records.map((r) => (JSON.parse(r.payload.toString()) as { i: number }).i);
const open = (d: string, o: Partial<SpoolOptions> = {}) =>
  Spool.open({ dir: d, maxBytes: 1024 * 1024, maxAgeMs: 3_600_000, ...o });
const segments = async (d: string) => (await readdir(d)).filter((f) => f.endsWith(".vrec")).sort();

describe("Spool", () => {
  it("delivers in order, holds records until acked, and keeps them across a reopen", async () => {
    const d = await dir();
    const s = await open(d);
    await s.append([rec(0), rec(1), rec(2)]);
    await s.append([rec(3)]);
    expect(ids(await s.peek(2))).toEqual([0, 1]);
    expect(ids(await s.peek(2))).toEqual([0, 1]);
    await s.ack(2);
    expect(ids(await s.peek(10))).toEqual([2, 3]);
    await s.close();
    const again = await open(d);
    expect(ids(await again.peek(10))).toEqual([2, 3]);
    expect(again.stats()).toMatchObject({ queued: 2, dropped: { corrupt: 0 } });
    await again.ack(2);
    await again.append([rec(4)]);
    await again.close();
    expect(ids(await (await open(d)).peek(10))).toEqual([4]);
  });

  it("limits a peek by count and bytes, but always returns at least one record", async () => {
    const s = await open(await dir());
    await s.append([rec(0, 100), rec(1, 100), rec(2, 100)]);
    expect(ids(await s.peek(10, 250))).toEqual([0, 1]);
    expect(ids(await s.peek(10, 5))).toEqual([0]);
    expect(ids(await s.peek(1))).toEqual([0]);
  });

  it("with a batch key, peeks only the leading records that share the first one's key", async () => {
    const s = await open(await dir(), { segmentBytes: 256 });
    // Keys by parity run: 0 2 4 | 5 | 6 8 (across segment files of a few records each).
    await s.append([0, 2, 4, 5, 6, 8].map((i) => rec(i, 40)));
    const parity = (p: Buffer) => String((JSON.parse(p.toString()) as { i: number }).i % 2);
    expect(ids(await s.peek(10, Number.POSITIVE_INFINITY, parity))).toEqual([0, 2, 4]);
    expect(ids(await s.peek(2, Number.POSITIVE_INFINITY, parity))).toEqual([0, 2]);
    await s.ack(3);
    expect(ids(await s.peek(10, Number.POSITIVE_INFINITY, parity))).toEqual([5]);
    await s.ack(1);
    expect(ids(await s.peek(10, Number.POSITIVE_INFINITY, parity))).toEqual([6, 8]);
  });

  it("cuts off a record torn by a crash and goes on appending after the good ones", async () => {
    const d = await dir();
    const s = await open(d);
    await s.append([rec(0), rec(1), rec(2)]);
    await s.close();
    const [seg] = await segments(d);
    const good = (await stat(join(d, seg!))).size;
    // What a process killed in the middle of a write leaves: a header promising more bytes than follow.
    await appendFile(join(d, seg!), Buffer.from([0, 0, 1, 0, 1, 2, 3, 4, 0, 0, 0]));
    const s2 = await open(d);
    expect(s2.stats().lost.torn.records).toBe(1);
    expect((await stat(join(d, seg!))).size).toBe(good);
    await s2.append([rec(3)]);
    expect(ids(await s2.peek(10))).toEqual([0, 1, 2, 3]);
  });

  it("treats a record whose checksum does not match at the tail as torn", async () => {
    const d = await dir();
    const s = await open(d);
    await s.append([rec(0), rec(1)]);
    await s.close();
    const path = join(d, (await segments(d))[0]!);
    const buf = await readFile(path);
    buf.writeUInt8(buf.readUInt8(buf.length - 3) ^ 0xff, buf.length - 3);
    await writeFile(path, buf);
    const s2 = await open(d);
    expect(ids(await s2.peek(10))).toEqual([0]);
    expect(s2.stats().lost.torn.records).toBe(1);
  });

  it("drops the oldest records when full, counts them, and stays within its bytes", async () => {
    const d = await dir();
    const s = await open(d, { maxBytes: 16 * 1024, segmentBytes: 2 * 1024 });
    for (let i = 0; i < 200; i++) await s.append([rec(i, 200)]);
    const st = s.stats();
    expect(st.diskBytes).toBeLessThanOrEqual(16 * 1024);
    expect(st.dropped.full).toBeGreaterThan(100);
    expect(st.dropped.full + st.queued).toBe(200);
    const kept = ids(await s.peek(1000));
    expect(kept.at(-1)).toBe(199);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => 200 - kept.length + k));
    expect((await segments(d)).length).toBeLessThanOrEqual(8);
  });

  it("drops records older than maxAge when they come up, and counts them", async () => {
    const clock = { now: 1_000_000 };
    const s = await open(await dir(), { maxAgeMs: 60_000, now: () => clock.now });
    await s.append([rec(0), rec(1)]);
    clock.now += 30_000;
    await s.append([rec(2)]);
    clock.now += 40_000;
    expect(ids(await s.peek(10))).toEqual([2]);
    expect(s.stats().dropped.expired).toBe(2);
  });

  it("deletes segment files once everything in them is delivered", async () => {
    const d = await dir();
    const s = await open(d, { segmentBytes: 1024 });
    for (let i = 0; i < 50; i++) await s.append([rec(i, 100)]);
    expect((await segments(d)).length).toBeGreaterThan(3);
    await s.ack(50);
    expect((await segments(d)).length).toBe(1);
    expect(s.stats()).toMatchObject({ queued: 0, queuedBytes: 0 });
  });

  it("resumes exactly after acks that cross segment boundaries", async () => {
    const d = await dir();
    const s = await open(d, { segmentBytes: 512 });
    for (let i = 0; i < 40; i++) await s.append([rec(i, 50)]);
    expect((await segments(d)).length).toBeGreaterThan(4);
    expect(ids(await s.peek(13))).toEqual(Array.from({ length: 13 }, (_, i) => i));
    await s.ack(13);
    await s.ack(4); // without a peek first
    await s.close();
    const again = await open(d, { segmentBytes: 512 });
    expect(again.stats()).toMatchObject({ queued: 23 });
    expect(ids(await again.peek(100))).toEqual(Array.from({ length: 23 }, (_, i) => 17 + i));
  });

  it("counts only undelivered records when dropping a partly delivered segment", async () => {
    const s = await open(await dir(), { maxBytes: 4 * 1024, segmentBytes: 1024 });
    for (let i = 0; i < 5; i++) await s.append([rec(i, 100)]);
    await s.peek(2);
    await s.ack(2);
    for (let i = 5; i < 60; i++) await s.append([rec(i, 100)]);
    const st = s.stats();
    expect(st.dropped.full + st.queued + 2).toBe(60);
    const kept = ids(await s.peek(1000));
    expect(kept.at(-1)).toBe(59);
    expect(kept.length).toBe(st.queued);
  });

  it("refuses and counts records it cannot write (not ENOSPC: write_error), and resumes by itself", async () => {
    const d = await dir();
    // Room for six records per segment file (28 bytes of frame header each).
    const segmentBytes = 6 * (28 + rec(0, 100).length) + 10;
    const s = await open(d, { segmentBytes });
    await s.append([0, 1, 2, 3, 4, 5].map((i) => rec(i, 100)));
    // The next segment file cannot be created: a directory holds its name (EISDIR from the kernel).
    const blocker = join(d, `${"7".padStart(20, "0")}.vrec`);
    await mkdir(blocker);
    const r = await s.append([rec(6, 100), rec(7, 100), rec(8, 100)]);
    expect(r).toMatchObject({ refused: 3, reason: "write_error", error: expect.stringMatching(/EISDIR/) });
    expect(s.stats()).toMatchObject({ writable: false, queued: 6, dropped: { write_error: 3 } });
    await rmdir(blocker);
    expect(await s.append([rec(9, 100)])).toEqual({ appended: 1, refused: 0 });
    expect(s.stats()).toMatchObject({ writable: true, queued: 7 });
    expect(ids(await s.peek(100))).toEqual([0, 1, 2, 3, 4, 5, 9]);
    await s.close();
    expect(ids(await (await open(d, { segmentBytes })).peek(100))).toEqual([0, 1, 2, 3, 4, 5, 9]);
  });

  it("loses nothing it confirmed when the writing process is killed with SIGKILL", async () => {
    const d = await dir();
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, "../../test/helpers/spool-writer.ts"), d],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let confirmed = -1;
    let buffered = "";
    await new Promise<void>((resolve) => {
      child.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) confirmed = Number(line);
        if (confirmed >= 2000 && !child.killed) {
          child.kill("SIGKILL");
          resolve();
        }
      });
    });
    await new Promise((r) => child.once("exit", r));
    const s = await open(d);
    const got = ids(await s.peek(1_000_000));
    expect(got.length).toBeGreaterThanOrEqual(confirmed + 1);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
  }, 60_000);
});
