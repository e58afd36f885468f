import { type FileHandle, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";

/** Settings of a durable spool. */
export interface SpoolOptions {
  /** Directory owned by this spool (one per sink). */
  dir: string;
  /** Bytes on disk before the oldest records are dropped. */
  maxBytes: number;
  /** Age (ms) after which records are dropped instead of delivered. */
  maxAgeMs: number;
  /** Size at which a new segment file is started. Defaults to maxBytes / 8, between 64 KiB and 8 MiB. */
  segmentBytes?: number;
  /** Wall clock, ms; injectable for tests. */
  now?: () => number;
}

/** One queued record. */
export interface SpoolRecord {
  /** When it was appended, ms since the epoch. */
  at: number;
  payload: Buffer;
}

/** Why records were dropped. */
export type DropReason = "full" | "age" | "corrupt";

/** Counters a spool keeps; `dropped` by reason since it was opened. */
export interface SpoolStats {
  queued: number;
  queuedBytes: number;
  diskBytes: number;
  dropped: Record<DropReason, number>;
  /** Torn records found at the tail when the spool was opened (a write cut short by a crash). */
  tornAtOpen: number;
}

/** Where a record sits, for the records of the last peek (what `ack` will consume). */
interface Position {
  seg: number;
  offset: number;
  size: number;
  at: number;
}

/** A segment file: its size, and how many records (and payload bytes) it holds in all. */
interface Segment {
  seq: number;
  size: number;
  records: number;
  bytes: number;
}

/** The head of the queue: the first undelivered record's segment and offset, and what of that segment is consumed. */
interface Head {
  seg: number;
  offset: number;
  records: number;
  bytes: number;
}

const HEADER = 16; // u32 payload length, u32 CRC-32 of the payload, f64 append time (ms)
const MAX_RECORD = 16 * 1024 * 1024;
const segName = (seq: number) => `${String(seq).padStart(20, "0")}.seg`;
const CURSOR = "cursor.json";

/**
 * A durable FIFO on disk: records are appended to segment files and delivered from a persisted cursor, so
 * they survive restarts and SIGKILL (a write cut short is found by its length and CRC and cut off when the
 * spool opens). Bounded by bytes (whole oldest segments are dropped) and by age; drops are counted by reason.
 * Memory does not grow with the queue: only per-segment counts are kept, and records are read from disk when
 * they come up. Not safe for use by two processes at once.
 */
export class Spool {
  readonly #opts: Required<Omit<SpoolOptions, "segmentBytes">> & { segmentBytes: number };
  readonly #segments: Segment[] = [];
  #head: Head = { seg: 0, offset: 0, records: 0, bytes: 0 };
  /** The records the last peek returned, in order; ack consumes from these. */
  #peeked: Position[] = [];
  readonly #readers = new Map<number, FileHandle>();
  #writer: FileHandle | undefined;
  #dropped: Record<DropReason, number> = { full: 0, age: 0, corrupt: 0 };
  #torn = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(opts: SpoolOptions) {
    const segmentBytes =
      opts.segmentBytes ?? Math.min(8 * 1024 * 1024, Math.max(64 * 1024, Math.floor(opts.maxBytes / 8)));
    this.#opts = { ...opts, segmentBytes, now: opts.now ?? Date.now };
  }

  /** Opens (and recovers) the spool in `opts.dir`, creating it if needed. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts);
    await spool.#recover();
    return spool;
  }

  /** Appends records in order; resolves when they are written (not fsynced: SIGKILL-safe, not power-loss-safe). */
  append(payloads: readonly Buffer[]): Promise<void> {
    return this.#serial(async () => {
      for (const p of payloads) await this.#appendOne(p);
      await this.#enforceBytes();
    });
  }

  /**
   * The oldest records, up to `maxRecords` and `maxBytes` of payload (at least one record however large),
   * after dropping those older than maxAge. With `batchKey`, only the leading records whose key equals the
   * first one's: what a caller can send together, so it never re-reads records it cannot use yet. They stay
   * queued until `ack`.
   */
  peek(
    maxRecords: number,
    maxBytes = Number.POSITIVE_INFINITY,
    batchKey?: (payload: Buffer) => string,
  ): Promise<SpoolRecord[]> {
    return this.#serial(async () => {
      await this.#dropAged();
      const out: SpoolRecord[] = [];
      this.#peeked = [];
      let bytes = 0;
      let key: string | undefined;
      for await (const { pos, payload } of this.#scan()) {
        if (out.length > 0 && bytes + pos.size > maxBytes) break;
        if (batchKey) {
          const k = batchKey(payload);
          if (out.length === 0) key = k;
          else if (k !== key) break;
        }
        out.push({ at: pos.at, payload });
        this.#peeked.push(pos);
        bytes += pos.size;
        if (out.length >= maxRecords) break;
      }
      return out;
    });
  }

  /** Removes the `count` oldest records (delivered, or refused for good) and persists the cursor. */
  ack(count: number): Promise<void> {
    return this.#serial(async () => {
      await this.#consume(count);
      await this.#saveCursor();
      await this.#deleteConsumedSegments();
    });
  }

  stats(): SpoolStats {
    let queued = -this.#head.records;
    let queuedBytes = -this.#head.bytes;
    for (const seg of this.#segments)
      if (seg.seq >= this.#head.seg) {
        queued += seg.records;
        queuedBytes += seg.bytes;
      }
    return {
      queued,
      queuedBytes,
      diskBytes: this.#segments.reduce((n, s) => n + s.size, 0),
      dropped: { ...this.#dropped },
      tornAtOpen: this.#torn,
    };
  }

  /** Closes the files; the queue stays on disk for the next open. */
  close(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#writer?.sync().catch(() => {});
      await this.#writer?.close();
      this.#writer = undefined;
      for (const h of this.#readers.values()) await h.close();
      this.#readers.clear();
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(() => {
      if (this.#closed) throw new Error(`spool ${this.#opts.dir} is closed`);
      return fn();
    });
    this.#chain = next.catch(() => {});
    return next;
  }

  async #recover(): Promise<void> {
    await mkdir(this.#opts.dir, { recursive: true });
    const seqs = (await readdir(this.#opts.dir))
      .filter((f) => /^\d{20}\.seg$/.test(f))
      .map((f) => Number(f.slice(0, 20)))
      .sort((a, b) => a - b);
    const cursor = await this.#loadCursor();
    for (const [i, seq] of seqs.entries()) {
      const path = join(this.#opts.dir, segName(seq));
      if (cursor && seq < cursor.seg) {
        await rm(path, { force: true });
        continue;
      }
      // One segment at a time (at most segmentBytes), so recovery memory is bounded too.
      const buf = await readFile(path);
      const seg: Segment = { seq, size: buf.length, records: 0, bytes: 0 };
      const isLast = i === seqs.length - 1;
      let offset = 0;
      while (offset < buf.length) {
        const size = offset + HEADER <= buf.length ? buf.readUInt32BE(offset) : -1;
        const ok =
          size >= 0 &&
          size <= MAX_RECORD &&
          offset + HEADER + size <= buf.length &&
          crc32(buf.subarray(offset + HEADER, offset + HEADER + size)) === buf.readUInt32BE(offset + 4);
        if (!ok) {
          // A crash mid-write leaves a short or unchecked record at the very end: cut it off. Damage
          // anywhere else loses the rest of that segment, counted, rather than the whole spool.
          if (isLast) {
            this.#torn++;
            const h = await open(path, "r+");
            await h.truncate(offset);
            await h.close();
            seg.size = offset;
          } else {
            this.#dropped.corrupt++;
            seg.size = offset;
          }
          break;
        }
        if (cursor && seq === cursor.seg && offset < cursor.offset) {
          this.#head = {
            seg: seq,
            offset: offset + HEADER + size,
            records: this.#head.records + 1,
            bytes: this.#head.bytes + size,
          };
        }
        seg.records++;
        seg.bytes += size;
        offset += HEADER + size;
      }
      this.#segments.push(seg);
    }
    if (this.#segments.length === 0) this.#segments.push({ seq: 1, size: 0, records: 0, bytes: 0 });
    if (!cursor || this.#head.seg !== cursor.seg)
      this.#head = { seg: this.#segments[0]!.seq, offset: 0, records: 0, bytes: 0 };
    this.#normalizeHead();
    const last = this.#segments.at(-1)!;
    this.#writer = await open(join(this.#opts.dir, segName(last.seq)), "a");
  }

  async #loadCursor(): Promise<{ seg: number; offset: number } | undefined> {
    try {
      const c = JSON.parse(await readFile(join(this.#opts.dir, CURSOR), "utf8")) as {
        seg?: unknown;
        offset?: unknown;
      };
      if (typeof c.seg === "number" && typeof c.offset === "number") return { seg: c.seg, offset: c.offset };
    } catch {
      // No cursor yet, or a damaged one: deliver from the oldest segment (at-least-once, never lost).
    }
    return undefined;
  }

  async #saveCursor(): Promise<void> {
    const tmp = join(this.#opts.dir, `${CURSOR}.tmp`);
    await writeAll(tmp, JSON.stringify({ seg: this.#head.seg, offset: this.#head.offset }));
    await rename(tmp, join(this.#opts.dir, CURSOR));
  }

  async #appendOne(payload: Buffer): Promise<void> {
    if (payload.length > MAX_RECORD)
      throw new RangeError(`spool record of ${payload.length} bytes exceeds ${MAX_RECORD}`);
    let seg = this.#segments.at(-1)!;
    if (seg.size > 0 && seg.size + HEADER + payload.length > this.#opts.segmentBytes)
      seg = await this.#roll();
    const header = Buffer.alloc(HEADER);
    header.writeUInt32BE(payload.length, 0);
    header.writeUInt32BE(crc32(payload), 4);
    header.writeDoubleBE(this.#opts.now(), 8);
    await this.#writer!.write(Buffer.concat([header, payload]));
    seg.size += HEADER + payload.length;
    seg.records++;
    seg.bytes += payload.length;
  }

  async #roll(): Promise<Segment> {
    await this.#writer!.sync();
    await this.#writer!.close();
    const seg: Segment = { seq: this.#segments.at(-1)!.seq + 1, size: 0, records: 0, bytes: 0 };
    this.#segments.push(seg);
    this.#writer = await open(join(this.#opts.dir, segName(seg.seq)), "a");
    return seg;
  }

  /** Moves the head past the end of exhausted segments, onto the next one that exists. */
  #normalizeHead(): void {
    for (;;) {
      const i = this.#segments.findIndex((s) => s.seq === this.#head.seg);
      const seg = this.#segments[i];
      const next = this.#segments[i + 1];
      if (!seg || !next || this.#head.offset < seg.size) return;
      this.#head = { seg: next.seq, offset: 0, records: 0, bytes: 0 };
    }
  }

  /** Reads the records from the head on, one at a time (header, then payload unless `headersOnly`). */
  async *#scan(headersOnly = false): AsyncGenerator<{ pos: Position; payload: Buffer }> {
    let { seg: seq, offset } = this.#head;
    for (const seg of this.#segments) {
      if (seg.seq < seq) continue;
      if (seg.seq > seq) offset = 0;
      seq = seg.seq;
      let header: Buffer | undefined;
      while (offset + HEADER <= seg.size) {
        header ??= await this.#readAt(seg.seq, offset, HEADER);
        const size = header.readUInt32BE(0);
        const pos: Position = { seg: seg.seq, offset, size, at: header.readDoubleBE(8) };
        const next = offset + HEADER + size;
        if (headersOnly) {
          header = undefined;
          yield { pos, payload: EMPTY };
        } else {
          // The payload and the next record's header in one read: one pread per record instead of two.
          const ahead = next + HEADER <= seg.size ? HEADER : 0;
          const buf = await this.#readAt(seg.seq, offset + HEADER, size + ahead);
          header = ahead ? buf.subarray(size) : undefined;
          yield { pos, payload: buf.subarray(0, size) };
        }
        offset = next;
      }
    }
  }

  /** Consumes the next `count` records (acked, or dropped). */
  async #consume(count: number): Promise<number> {
    let n = 0;
    const aligned = this.#peeked[0]?.seg === this.#head.seg && this.#peeked[0]?.offset === this.#head.offset;
    const positions = aligned ? this.#peeked.slice(0, count) : [];
    if (positions.length < count) {
      const skip = positions.length;
      let i = 0;
      for await (const { pos } of this.#scan(true)) {
        if (i++ < skip) continue;
        positions.push(pos);
        if (positions.length >= count) break;
      }
    }
    for (const pos of positions) {
      if (pos.seg !== this.#head.seg) this.#head = { seg: pos.seg, offset: 0, records: 0, bytes: 0 };
      this.#head = {
        seg: pos.seg,
        offset: pos.offset + HEADER + pos.size,
        records: this.#head.records + 1,
        bytes: this.#head.bytes + pos.size,
      };
      n++;
    }
    this.#peeked = [];
    this.#normalizeHead();
    return n;
  }

  async #enforceBytes(): Promise<void> {
    const total = () => this.#segments.reduce((n, s) => n + s.size, 0);
    while (total() > this.#opts.maxBytes) {
      if (this.#segments.length === 1) await this.#roll();
      const oldest = this.#segments[0]!;
      const next = this.#segments[1]!;
      if (oldest.seq >= this.#head.seg) {
        this.#dropped.full += oldest.records - (oldest.seq === this.#head.seg ? this.#head.records : 0);
        this.#head = { seg: next.seq, offset: 0, records: 0, bytes: 0 };
        this.#peeked = [];
      }
      await this.#saveCursor();
      await this.#deleteConsumedSegments();
    }
  }

  async #dropAged(): Promise<void> {
    const limit = this.#opts.now() - this.#opts.maxAgeMs;
    let n = 0;
    for await (const { pos } of this.#scan(true)) {
      if (pos.at >= limit) break;
      n++;
    }
    if (n) {
      this.#dropped.age += await this.#consume(n);
      await this.#saveCursor();
      await this.#deleteConsumedSegments();
    }
  }

  async #deleteConsumedSegments(): Promise<void> {
    while (this.#segments.length > 1 && this.#segments[0]!.seq < this.#head.seg) {
      const seg = this.#segments.shift()!;
      await this.#readers.get(seg.seq)?.close();
      this.#readers.delete(seg.seq);
      await rm(join(this.#opts.dir, segName(seg.seq)), { force: true });
    }
  }

  async #readAt(seq: number, position: number, length: number): Promise<Buffer> {
    let h = this.#readers.get(seq);
    if (!h) {
      h = await open(join(this.#opts.dir, segName(seq)), "r");
      this.#readers.set(seq, h);
    }
    const buf = Buffer.alloc(length);
    await h.read(buf, 0, length, position);
    return buf;
  }
}

const EMPTY = Buffer.alloc(0);

async function writeAll(path: string, text: string): Promise<void> {
  const h = await open(path, "w");
  try {
    await h.writeFile(text);
    await h.sync();
  } finally {
    await h.close();
  }
}
