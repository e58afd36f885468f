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

interface Entry {
  seg: number;
  offset: number;
  size: number;
  at: number;
}

interface Segment {
  seq: number;
  size: number;
}

const HEADER = 16; // u32 payload length, u32 CRC-32 of the payload, f64 append time (ms)
const MAX_RECORD = 16 * 1024 * 1024;
const segName = (seq: number) => `${String(seq).padStart(20, "0")}.seg`;
const CURSOR = "cursor.json";

/**
 * A durable FIFO on disk: records are appended to segment files and delivered from a persisted cursor, so
 * they survive restarts and SIGKILL (a write cut short is found by its length and CRC and cut off when the
 * spool opens). Bounded by bytes (whole oldest segments are dropped) and by age; drops are counted by reason.
 * Not safe for use by two processes at once.
 */
export class Spool {
  readonly #opts: Required<Omit<SpoolOptions, "segmentBytes">> & { segmentBytes: number };
  readonly #segments: Segment[] = [];
  readonly #entries: Entry[] = [];
  readonly #readers = new Map<number, FileHandle>();
  #writer: FileHandle | undefined;
  #queuedBytes = 0;
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
   * after dropping those older than maxAge. They stay queued until `ack`.
   */
  peek(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<SpoolRecord[]> {
    return this.#serial(async () => {
      await this.#dropAged();
      const out: SpoolRecord[] = [];
      let bytes = 0;
      for (const e of this.#entries) {
        if (out.length >= maxRecords || (out.length > 0 && bytes + e.size > maxBytes)) break;
        out.push({ at: e.at, payload: await this.#read(e) });
        bytes += e.size;
      }
      return out;
    });
  }

  /** Removes the `count` oldest records (delivered, or refused for good) and persists the cursor. */
  ack(count: number): Promise<void> {
    return this.#serial(async () => {
      this.#shift(Math.min(count, this.#entries.length));
      await this.#saveCursor();
      await this.#deleteConsumedSegments();
    });
  }

  stats(): SpoolStats {
    return {
      queued: this.#entries.length,
      queuedBytes: this.#queuedBytes,
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
      const buf = await readFile(path);
      let offset = cursor && seq === cursor.seg ? Math.min(cursor.offset, buf.length) : 0;
      const isLast = i === seqs.length - 1;
      for (;;) {
        if (offset === buf.length) break;
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
          } else this.#dropped.corrupt++;
          break;
        }
        this.#entries.push({ seg: seq, offset, size, at: buf.readDoubleBE(offset + 8) });
        this.#queuedBytes += size;
        offset += HEADER + size;
      }
      this.#segments.push({ seq, size: isLast && this.#torn ? offset : buf.length });
    }
    if (this.#segments.length === 0) this.#segments.push({ seq: 1, size: 0 });
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
    const head = this.#entries[0];
    const last = this.#segments.at(-1)!;
    const cursor = head ? { seg: head.seg, offset: head.offset } : { seg: last.seq, offset: last.size };
    const tmp = join(this.#opts.dir, `${CURSOR}.tmp`);
    await writeAll(tmp, JSON.stringify(cursor));
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
    const at = this.#opts.now();
    header.writeDoubleBE(at, 8);
    await this.#writer!.write(Buffer.concat([header, payload]));
    this.#entries.push({ seg: seg.seq, offset: seg.size, size: payload.length, at });
    this.#queuedBytes += payload.length;
    seg.size += HEADER + payload.length;
  }

  async #roll(): Promise<Segment> {
    await this.#writer!.sync();
    await this.#writer!.close();
    const seg = { seq: this.#segments.at(-1)!.seq + 1, size: 0 };
    this.#segments.push(seg);
    this.#writer = await open(join(this.#opts.dir, segName(seg.seq)), "a");
    return seg;
  }

  async #enforceBytes(): Promise<void> {
    const total = () => this.#segments.reduce((n, s) => n + s.size, 0);
    while (total() > this.#opts.maxBytes) {
      if (this.#segments.length === 1) await this.#roll();
      const oldest = this.#segments[0]!;
      let n = 0;
      while (this.#entries[0] && this.#entries[0].seg === oldest.seq) {
        this.#shift(1);
        n++;
      }
      this.#dropped.full += n;
      await this.#saveCursor();
      await this.#deleteConsumedSegments();
    }
  }

  async #dropAged(): Promise<void> {
    const limit = this.#opts.now() - this.#opts.maxAgeMs;
    let n = 0;
    while (this.#entries[0] && this.#entries[0].at < limit) {
      this.#shift(1);
      n++;
    }
    if (n) {
      this.#dropped.age += n;
      await this.#saveCursor();
      await this.#deleteConsumedSegments();
    }
  }

  #shift(n: number): void {
    for (const e of this.#entries.splice(0, n)) this.#queuedBytes -= e.size;
  }

  async #deleteConsumedSegments(): Promise<void> {
    const firstNeeded = this.#entries[0]?.seg ?? this.#segments.at(-1)!.seq;
    while (this.#segments.length > 1 && this.#segments[0]!.seq < firstNeeded) {
      const seg = this.#segments.shift()!;
      await this.#readers.get(seg.seq)?.close();
      this.#readers.delete(seg.seq);
      await rm(join(this.#opts.dir, segName(seg.seq)), { force: true });
    }
  }

  async #read(e: Entry): Promise<Buffer> {
    let h = this.#readers.get(e.seg);
    if (!h) {
      h = await open(join(this.#opts.dir, segName(e.seg)), "r");
      this.#readers.set(e.seg, h);
    }
    const buf = Buffer.alloc(e.size);
    await h.read(buf, 0, e.size, e.offset + HEADER);
    return buf;
  }
}

async function writeAll(path: string, text: string): Promise<void> {
  const h = await open(path, "w");
  try {
    await h.writeFile(text);
    await h.sync();
  } finally {
    await h.close();
  }
}
