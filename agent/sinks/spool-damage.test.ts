import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { crc32 } from "node:zlib";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { sinkSpec } from "../../test/helpers/sink-spec.ts";
import { Spool } from "./spool.ts";
import { FRAME_HEADER, indexSegment } from "./spool-frame.ts";
import { VesSinkRunner } from "./ves-sink.ts";

// Damage done to the files of a closed spool, as a disk, a person or a crash would: each case must lose
// exactly the damaged records, count them under their reason, log once per damaged segment, and deliver
// every other record in order.
const COUNT = 30;
const rec = (i: number) => Buffer.from(JSON.stringify({ i, p: "x".repeat(100) }));
const ids = (records: { payload: Buffer }[]) =>
  records.map((r) => (JSON.parse(r.payload.toString()) as { i: number }).i);
const except = (...gone: number[]) =>
  Array.from({ length: COUNT }, (_, i) => i).filter((i) => !gone.includes(i));

function capture() {
  const lines: { msg: string; where?: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { msg: string });
      done();
    },
  });
  return { log: pino({}, stream), warnings: () => lines.filter((l) => /damage/.test(l.msg)) };
}

const open = (dir: string, log?: ReturnType<typeof capture>["log"]) =>
  Spool.open({
    dir,
    maxBytes: 1024 * 1024,
    maxAgeMs: 3_600_000,
    segmentBytes: 1024,
    ...(log ? { log } : {}),
  });

/** A closed spool of COUNT records over several segment files. */
async function filled(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "vesmon-damage-"));
  const s = await open(dir);
  for (let i = 0; i < COUNT; i++) await s.append([rec(i)]);
  await s.close();
  return dir;
}

const segmentFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.endsWith(".vrec")).sort();

/** Where record `i` sits: its file and the frame's offset and payload size. */
async function locate(dir: string, i: number): Promise<{ file: string; offset: number; size: number }> {
  for (const file of await segmentFiles(dir)) {
    const buf = await readFile(join(dir, file));
    for (const f of indexSegment(buf, Number(file.slice(0, 20))).frames) {
      const payload = buf.subarray(f.offset + FRAME_HEADER, f.offset + FRAME_HEADER + f.size);
      if ((JSON.parse(payload.toString()) as { i: number }).i === i) return { file, ...f };
    }
  }
  throw new Error(`record ${i} not found`);
}

async function flip(dir: string, file: string, at: number): Promise<void> {
  const path = join(dir, file);
  const buf = await readFile(path);
  buf.writeUInt8(buf.readUInt8(at) ^ 0x5a, at);
  await writeFile(path, buf);
}

async function reopen(dir: string) {
  const c = capture();
  const s = await open(dir, c.log);
  const got = ids(await s.peek(1000));
  return { s, got, stats: s.stats(), warnings: c.warnings() };
}

describe("Spool damage", () => {
  it.each([
    ["first", 0],
    ["middle", 14],
  ])("a flipped byte in the %s record costs that record, counted as checksum damage", async (_, i) => {
    const dir = await filled();
    const r = await locate(dir, i);
    await flip(dir, r.file, r.offset + FRAME_HEADER + 20);
    const { got, stats, warnings } = await reopen(dir);
    expect(got).toEqual(except(i));
    expect(stats.dropped.corrupt).toBe(1);
    expect(stats.lost.checksum).toEqual({ records: 1, bytes: FRAME_HEADER + r.size });
    expect(stats.queued).toBe(COUNT - 1);
    expect(warnings).toHaveLength(1);
  });

  it("a flipped byte in a record's length costs that record only", async () => {
    const dir = await filled();
    const r = await locate(dir, 14);
    await flip(dir, r.file, r.offset + 6);
    const { got, stats } = await reopen(dir);
    expect(got).toEqual(except(14));
    expect(stats.lost.checksum.records).toBe(1);
  });

  it("16 bytes flipped across a record boundary cost the two records they touch, no more", async () => {
    const dir = await filled();
    const r = await locate(dir, 15);
    const before = await locate(dir, 14);
    expect(before.file).toBe(r.file);
    for (let k = r.offset - 8; k < r.offset + 8; k++) await flip(dir, r.file, k);
    const { got, stats } = await reopen(dir);
    expect(got).toEqual(except(14, 15));
    expect(stats.lost.checksum).toEqual({ records: 2, bytes: 2 * FRAME_HEADER + before.size + r.size });
  });

  it("a flipped byte in the last record costs that record, counted as torn, and appending goes on", async () => {
    const dir = await filled();
    const r = await locate(dir, COUNT - 1);
    await flip(dir, r.file, r.offset + FRAME_HEADER + 3);
    const { s, got, stats, warnings } = await reopen(dir);
    expect(got).toEqual(except(COUNT - 1));
    expect(stats.lost.torn).toEqual({ records: 1, bytes: FRAME_HEADER + r.size });
    expect(stats.dropped.corrupt).toBe(1);
    expect(warnings).toHaveLength(1);
    await s.append([rec(100)]);
    expect(ids(await s.peek(1000))).toEqual([...except(COUNT - 1), 100]);
  });

  it("a truncated tail costs the cut record, counted as torn", async () => {
    const dir = await filled();
    const r = await locate(dir, COUNT - 1);
    await truncate(join(dir, r.file), r.offset + FRAME_HEADER + r.size - 10);
    const { got, stats } = await reopen(dir);
    expect(got).toEqual(except(COUNT - 1));
    expect(stats.lost.torn).toEqual({ records: 1, bytes: FRAME_HEADER + r.size - 10 });
  });

  it("a deleted segment costs its own records, counted as missing; the oldest one too", async () => {
    const dir = await filled();
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThanOrEqual(4);
    const inFile = async (file: string) =>
      indexSegment(await readFile(join(dir, file)), Number(file.slice(0, 20))).frames.map((f) => f.seq - 1);
    const middle = await inFile(files[2]!);
    const oldest = await inFile(files[0]!);
    await rm(join(dir, files[2]!));
    await rm(join(dir, files[0]!));
    const { got, stats, warnings } = await reopen(dir);
    expect(got).toEqual(except(...oldest, ...middle));
    expect(stats.lost.missing.records).toBe(oldest.length + middle.length);
    expect(stats.dropped.corrupt).toBe(oldest.length + middle.length);
    expect(warnings).toHaveLength(2);
  });

  it("damage found while reading (after the spool opened) costs the damaged record only", async () => {
    const dir = await filled();
    const s = await open(dir);
    expect(ids(await s.peek(3))).toEqual([0, 1, 2]);
    await s.ack(3);
    const r = await locate(dir, 10);
    await flip(dir, r.file, r.offset + FRAME_HEADER + 50);
    expect(ids(await s.peek(1000))).toEqual(except(0, 1, 2, 10));
    expect(s.stats()).toMatchObject({ queued: COUNT - 4, dropped: { corrupt: 1 } });
    expect(s.stats().lost.checksum.records).toBe(1);
  });

  it("takes over a spool the previous version left, in order, without what it had delivered", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vesmon-legacy-"));
    // The previous format: `<20 digits>.seg` files of [u32 length, u32 CRC-32, f64 time, payload], cursor.json.
    const legacy = (from: number, to: number) =>
      Buffer.concat(
        Array.from({ length: to - from }, (_, k) => {
          const payload = rec(from + k);
          const h = Buffer.alloc(16);
          h.writeUInt32BE(payload.length, 0);
          h.writeUInt32BE(crc32(payload), 4);
          h.writeDoubleBE(Date.now(), 8);
          return Buffer.concat([h, payload]);
        }),
      );
    const first = legacy(0, 5);
    await writeFile(join(dir, `${"1".padStart(20, "0")}.seg`), first);
    await writeFile(join(dir, `${"2".padStart(20, "0")}.seg`), legacy(5, 10));
    // Records 0 and 1 were delivered: the cursor points at record 2 of the first file.
    const offset2 = 2 * (16 + rec(0).length);
    await writeFile(join(dir, "cursor.json"), JSON.stringify({ seg: 1, offset: offset2 }));
    const s = await open(dir);
    expect(ids(await s.peek(1000))).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.stats()).toMatchObject({ migrated: 8, queued: 8 });
    expect((await readdir(dir)).filter((f) => f.endsWith(".seg") || f === "cursor.json")).toEqual([]);
    await s.close();
    expect(ids(await (await open(dir)).peek(1000))).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("the sink reports what damage cost: dropped as corrupt, skipped bytes by where", async () => {
    const dir = await filled();
    const r = await locate(dir, 7);
    await flip(dir, r.file, r.offset + FRAME_HEADER + 1);
    const sent: Buffer[] = [];
    const sink = await VesSinkRunner.open({
      name: "ves",
      vesVersion: "7.2.1",
      spoolDir: dir,
      spec: sinkSpec("http://collector.test"),
      transport: {
        async post(_url, body) {
          sent.push(body);
          return { status: "success", httpStatus: 202 };
        },
        close() {},
      },
    });
    try {
      expect(sink.status()).toMatchObject({
        dropped: 1,
        droppedByReason: { corrupt: 1 },
        spool: { writable: true, skippedBytes: { checksum: FRAME_HEADER + r.size, torn: 0 } },
      });
    } finally {
      await sink.close();
    }
  });
});
