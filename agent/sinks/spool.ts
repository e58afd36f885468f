import { constants, type FileHandle, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import {
  decodeHeader,
  encodeFrame,
  FRAME_HEADER,
  type Frame,
  type Hole,
  indexSegment,
  MAX_RECORD,
  payloadMatches,
} from "./spool-frame.ts";
import { LEGACY_CURSOR, legacySegments, readLegacySegment } from "./spool-legacy.ts";
import { type Damage, noLoss, segmentLosses } from "./spool-losses.ts";
import type {
  AppendResult,
  DropReason,
  LossReason,
  SpoolOptions,
  SpoolRecord,
  SpoolStats,
} from "./spool-types.ts";

export type { AppendResult, DropReason, LossReason, SpoolOptions, SpoolRecord, SpoolStats };

/** A segment file, named after the sequence number of its first record, and what it holds. */
interface Segment {
  first: number;
  /** Bytes that count: a record is appended here (anything beyond was rolled back or cut off). */
  size: number;
  records: number;
  bytes: number;
  /** Sequence number of its last record (first - 1 when empty). */
  last: number;
  holes: Hole[];
}

/** The first undelivered record: its segment, offset and number, and what of that segment is consumed. */
interface Head {
  seg: number;
  offset: number;
  records: number;
  bytes: number;
  seq: number;
}

type Position = Frame & { seg: number };

const SEGMENT = /^(\d{20})\.vrec$/;
const segName = (first: number) => `${String(first).padStart(20, "0")}.vrec`;
const HEAD = "head.json";
const isDiskFull = (err: NodeJS.ErrnoException) => err.code === "ENOSPC" || err.code === "EDQUOT";

/**
 * A durable FIFO on disk. Records are framed (length, sequence number, CRC-32, sync marker: spool-frame.ts)
 * and appended to segment files; delivery starts from a persisted head. It survives restarts and SIGKILL,
 * and damage: one damaged record costs that record, a deleted segment its own records, each counted and
 * logged. A full disk refuses the newest records (counted, the append rolled back) and the spool resumes
 * by itself once there is space; a cursor that cannot be saved only means resending after a restart.
 * Bounded by bytes (whole oldest segments are dropped) and by age. Memory does not grow with the queue.
 * Not safe for use by two processes at once.
 */
export class Spool {
  readonly #opts: Required<Omit<SpoolOptions, "segmentBytes" | "log">> & { segmentBytes: number };
  readonly #log: Logger | undefined;
  readonly #segments: Segment[] = [];
  #head: Head = { seg: 1, offset: 0, records: 0, bytes: 0, seq: 1 };
  #nextSeq = 1;
  /** The head as last saved: segments wholly before it may be deleted. */
  #savedSeq = 1;
  /** The records the last peek returned, in order; ack consumes from these. */
  #peeked: Position[] = [];
  readonly #readers = new Map<number, FileHandle>();
  #writer: FileHandle | undefined;
  #dropped: Record<DropReason, number> = { full: 0, expired: 0, corrupt: 0, disk_full: 0, write_error: 0 };
  #lost: Damage = {
    checksum: noLoss(),
    torn: noLoss(),
    missing: noLoss(),
  };
  #writeError: string | undefined;
  #refusedSinceFailure = 0;
  #cursorError: string | undefined;
  #migrated = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(opts: SpoolOptions) {
    const segmentBytes =
      opts.segmentBytes ?? Math.min(8 * 1024 * 1024, Math.max(64 * 1024, Math.floor(opts.maxBytes / 8)));
    const { log, ...rest } = opts;
    this.#opts = { ...rest, segmentBytes, now: opts.now ?? Date.now };
    this.#log = log;
  }

  /** Opens (and recovers) the spool in `opts.dir`, creating it if needed; takes over a previous format's files. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts);
    await spool.#recover();
    await spool.#migrateLegacy();
    return spool;
  }

  /**
   * Appends records in order; resolves when they are written (not fsynced: SIGKILL-safe, not power-loss-safe).
   * When the disk refuses a record, it is rolled back and it and the rest are refused: counted, never thrown.
   */
  append(payloads: readonly Buffer[]): Promise<AppendResult> {
    return this.#serial(async () => {
      const at = this.#opts.now();
      for (const [i, p] of payloads.entries()) {
        const err = await this.#appendOne(p, at);
        if (err) return this.#refuse(payloads.length - i, i, err);
      }
      if (this.#writeError !== undefined) {
        this.#log?.info(
          { refused: this.#refusedSinceFailure },
          "spool writable again; events refused while it was not are counted as dropped",
        );
        this.#writeError = undefined;
        this.#refusedSinceFailure = 0;
      }
      await this.#enforceBytes();
      return { appended: payloads.length, refused: 0 };
    });
  }

  /**
   * The oldest records, up to `maxRecords` and `maxBytes` of payload (at least one record however large),
   * after dropping those older than maxAge. Every record is verified against its checksum as it is read.
   * With `batchKey`, only the leading records whose key equals the first one's: what a caller can send
   * together, so it never re-reads records it cannot use yet. They stay queued until `ack`.
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
      for await (const { pos, payload } of this.#scan(false)) {
        if (out.length > 0 && bytes + pos.size > maxBytes) break;
        if (batchKey) {
          const k = batchKey(payload);
          if (out.length === 0) key = k;
          else if (k !== key) break;
        }
        out.push({ at: pos.at, seq: pos.seq, payload });
        this.#peeked.push(pos);
        bytes += pos.size;
        if (out.length >= maxRecords) break;
      }
      return out;
    });
  }

  /** Removes the `count` oldest records (delivered, or refused for good) and saves the head if it can. */
  ack(count: number): Promise<void> {
    return this.#serial(async () => {
      await this.#consume(count);
      await this.#saveHead();
      await this.#deleteConsumedSegments();
    });
  }

  stats(): SpoolStats {
    let queued = -this.#head.records;
    let queuedBytes = -this.#head.bytes;
    for (const seg of this.#segments)
      if (seg.first >= this.#head.seg) {
        queued += seg.records;
        queuedBytes += seg.bytes;
      }
    return {
      queued,
      queuedBytes,
      diskBytes: this.#segments.reduce((n, s) => n + s.size, 0),
      dropped: { ...this.#dropped },
      lost: {
        checksum: { ...this.#lost.checksum },
        torn: { ...this.#lost.torn },
        missing: { ...this.#lost.missing },
      },
      writable: this.#writeError === undefined,
      ...(this.#writeError !== undefined ? { writeError: this.#writeError } : {}),
      cursorSaved: this.#cursorError === undefined,
      migrated: this.#migrated,
    };
  }

  /** Closes the files; the queue stays on disk for the next open. */
  close(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#writer?.sync().catch(() => {});
      await this.#writer?.close().catch(() => {});
      this.#writer = undefined;
      for (const h of this.#readers.values()) await h.close().catch(() => {});
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

  #refuse(refused: number, appended: number, err: NodeJS.ErrnoException): AppendResult {
    const reason = isDiskFull(err) ? "disk_full" : "write_error";
    this.#dropped[reason] += refused;
    if (this.#writeError === undefined)
      this.#log?.error(
        { reason, err: err.message },
        "spool cannot write; refusing new events (counted as dropped) until it can",
      );
    this.#writeError = err.message;
    this.#refusedSinceFailure += refused;
    return { appended, refused, reason, error: err.message };
  }

  async #recover(): Promise<void> {
    const dir = this.#opts.dir;
    await mkdir(dir, { recursive: true });
    const firsts = (await readdir(dir))
      .map((f) => SEGMENT.exec(f)?.[1])
      .filter((s) => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const saved = await this.#loadHead();
    let carry = { expected: saved ?? firsts[0] ?? 1, pendingHole: false };
    for (const [i, first] of firsts.entries()) {
      const next = firsts[i + 1];
      if (saved !== undefined && next !== undefined && next <= saved) {
        await rm(join(dir, segName(first)), { force: true });
        continue;
      }
      // One segment at a time (at most segmentBytes), so recovery memory is bounded too.
      const buf = await readFile(join(dir, segName(first)));
      const index = indexSegment(buf, first);
      const seg = this.#segmentOf(first, buf.length, index.frames, index.holes);
      let torn = noLoss();
      const tail = seg.holes.at(-1);
      if (next === undefined && tail && tail.end === buf.length) {
        // A write cut short (or damaged) at the very end: cut it off; the next append goes there.
        seg.holes.pop();
        seg.size = tail.offset;
        torn = { records: Math.max(1, tail.magics), bytes: tail.end - tail.offset };
        await this.#truncate(first, tail.offset);
      }
      const found = segmentLosses(index.frames, seg.holes, saved, carry);
      carry = found.carry;
      const damage: Damage = { ...found.damage, torn };
      this.#count(damage, `segment ${segName(first)}`);
      this.#segments.push(seg);
    }
    const last = this.#segments.at(-1);
    this.#nextSeq = Math.max(last ? last.last + 1 : 1, saved ?? 1);
    if (!last) this.#segments.push(this.#segmentOf(this.#nextSeq, 0, [], []));
    this.#savedSeq = saved ?? 0;
    await this.#placeHead(saved ?? 0);
    // Positioned writes, not O_APPEND: a rolled-back append is simply written over.
    this.#writer = await open(
      join(dir, segName(this.#segments.at(-1)!.first)),
      constants.O_RDWR | constants.O_CREAT,
    );
    // A head saved from the start lets the next open tell a deleted oldest segment from a delivered one.
    if (saved === undefined) await this.#saveHead();
    await this.#deleteConsumedSegments();
  }

  #segmentOf(first: number, size: number, frames: Frame[], holes: Hole[]): Segment {
    return {
      first,
      size,
      records: frames.length,
      bytes: frames.reduce((n, f) => n + f.size, 0),
      last: frames.at(-1)?.seq ?? first - 1,
      holes,
    };
  }

  /** Adds losses to the counters and logs them once (per segment at open, per damage found later). */
  #count(damage: Damage, where: string): void {
    let records = 0;
    for (const reason of ["checksum", "torn", "missing"] as const) {
      this.#lost[reason].records += damage[reason].records;
      this.#lost[reason].bytes += damage[reason].bytes;
      records += damage[reason].records;
    }
    this.#dropped.corrupt += records;
    if (records > 0 || damage.checksum.bytes > 0 || damage.torn.bytes > 0)
      this.#log?.warn(
        {
          where,
          damagedRecords: damage.checksum.records,
          damagedBytes: damage.checksum.bytes,
          tornRecords: damage.torn.records,
          tornBytes: damage.torn.bytes,
          missingRecords: damage.missing.records,
        },
        "spool damage skipped; the records lost are counted as dropped (corrupt)",
      );
  }

  /** Puts the head on the first record numbered `seq` or later (what a saved head names). */
  async #placeHead(seq: number): Promise<void> {
    for (const seg of this.#segments) {
      if (seg.records === 0 || seg.last < seq) continue;
      const { frames } = await this.#index(seg);
      const before = frames.filter((f) => f.seq < seq);
      const at = frames[before.length]!;
      this.#head = {
        seg: seg.first,
        offset: at.offset,
        records: before.length,
        bytes: before.reduce((n, f) => n + f.size, 0),
        seq: Math.max(seq, seg.first),
      };
      return;
    }
    const last = this.#segments.at(-1)!;
    this.#head = {
      seg: last.first,
      offset: last.size,
      records: last.records,
      bytes: last.bytes,
      seq: Math.max(seq, last.last + 1),
    };
  }

  /** Reads and indexes a segment again (bounded by segmentBytes); counts and logs what is newly lost. */
  async #index(seg: Segment): Promise<{ frames: Frame[] }> {
    const buf = (await readFile(join(this.#opts.dir, segName(seg.first)))).subarray(0, seg.size);
    const index = indexSegment(buf, seg.first);
    const fresh = this.#segmentOf(seg.first, buf.length, index.frames, index.holes);
    const atHead = this.#head.seg === seg.first;
    const consumed = atHead ? index.frames.filter((f) => f.seq < this.#head.seq) : [];
    const lost = seg.records - (atHead ? this.#head.records : 0) - (fresh.records - consumed.length);
    if (lost > 0) {
      const holeBytes = (hs: Hole[]) => hs.reduce((n, h) => n + h.end - h.offset, 0);
      const checksum = { records: lost, bytes: Math.max(0, holeBytes(fresh.holes) - holeBytes(seg.holes)) };
      this.#count(
        { checksum, torn: noLoss(), missing: noLoss() },
        `segment ${segName(seg.first)} (while reading)`,
      );
    }
    if (atHead)
      this.#head = {
        ...this.#head,
        records: consumed.length,
        bytes: consumed.reduce((n, f) => n + f.size, 0),
      };
    Object.assign(seg, fresh);
    return index;
  }

  async #truncate(first: number, size: number): Promise<void> {
    const h = await open(join(this.#opts.dir, segName(first)), "r+");
    try {
      await h.truncate(size);
    } catch {
      // Appends write at `size` anyway, over whatever is there.
    } finally {
      await h.close();
    }
  }

  async #loadHead(): Promise<number | undefined> {
    try {
      const c = JSON.parse(await readFile(join(this.#opts.dir, HEAD), "utf8")) as { seq?: unknown };
      if (typeof c.seq === "number" && Number.isSafeInteger(c.seq) && c.seq >= 0) return c.seq;
    } catch {
      // No head yet, or a damaged one: deliver from the oldest segment (at least once, never lost).
    }
    return undefined;
  }

  /** Saves the head; a failure (a full disk) is remembered and logged once, and costs nothing until a restart. */
  async #saveHead(): Promise<void> {
    const tmp = join(this.#opts.dir, `${HEAD}.tmp`);
    try {
      await writeAll(tmp, JSON.stringify({ seq: this.#head.seq }));
      await rename(tmp, join(this.#opts.dir, HEAD));
      this.#savedSeq = this.#head.seq;
      if (this.#cursorError !== undefined) this.#log?.info("spool cursor saved again");
      this.#cursorError = undefined;
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      if (this.#cursorError === undefined)
        this.#log?.warn(
          { err: (err as Error).message },
          "cannot save the spool cursor; delivery goes on, a restart now would send the delivered events again",
        );
      this.#cursorError = (err as Error).message;
    }
  }

  /** Writes one record at the end of the newest segment; on failure rolls it back and returns the error. */
  async #appendOne(payload: Buffer, at: number): Promise<NodeJS.ErrnoException | undefined> {
    if (payload.length > MAX_RECORD)
      throw new RangeError(`spool record of ${payload.length} bytes exceeds ${MAX_RECORD}`);
    const frame = encodeFrame(this.#nextSeq, at, payload);
    let seg = this.#segments.at(-1)!;
    try {
      if (seg.size > 0 && seg.size + frame.length > this.#opts.segmentBytes) seg = await this.#roll();
      await writeAt(this.#writer!, frame, seg.size);
    } catch (err) {
      // Nothing past seg.size counts; cutting it off keeps the file tidy, and the next append overwrites it anyway.
      await this.#writer?.truncate(seg.size).catch(() => {});
      return err as NodeJS.ErrnoException;
    }
    seg.size += frame.length;
    seg.records++;
    seg.bytes += payload.length;
    seg.last = this.#nextSeq++;
    return undefined;
  }

  async #roll(): Promise<Segment> {
    const seg = this.#segmentOf(this.#nextSeq, 0, [], []);
    const h = await open(join(this.#opts.dir, segName(seg.first)), "w+");
    await this.#writer?.sync().catch(() => {});
    await this.#writer?.close().catch(() => {});
    this.#writer = h;
    this.#segments.push(seg);
    return seg;
  }

  /** Moves the head out of holes and past the end of exhausted segments, onto the next one that exists. */
  #normalizeHead(): void {
    for (;;) {
      const i = this.#segments.findIndex((s) => s.first === this.#head.seg);
      const seg = this.#segments[i];
      if (!seg) return;
      const hole = seg.holes.find((h) => this.#head.offset >= h.offset && this.#head.offset < h.end);
      if (hole) {
        this.#head = { ...this.#head, offset: hole.end };
        continue;
      }
      const next = this.#segments[i + 1];
      if (!next || this.#head.offset < seg.size) return;
      this.#head = { ...this.#head, seg: next.first, offset: 0, records: 0, bytes: 0 };
    }
  }

  /**
   * Reads the records from the head on, one at a time, skipping holes. A record that fails its check (damaged
   * since it was written) makes its segment be indexed again: the damage becomes a hole, counted, and the
   * scan goes on after it. `headersOnly` checks headers, not payloads (for consuming and ageing).
   */
  async *#scan(headersOnly: boolean): AsyncGenerator<{ pos: Position; payload: Buffer }> {
    let reindexed = 0;
    for (const seg of [...this.#segments]) {
      if (seg.first < this.#head.seg) continue;
      let offset = seg.first === this.#head.seg ? this.#head.offset : 0;
      let header: Buffer | undefined;
      let last = seg.first - 1;
      while (offset < seg.size) {
        const hole = seg.holes.find((h) => offset >= h.offset && offset < h.end);
        if (hole) {
          offset = hole.end;
          header = undefined;
          continue;
        }
        header ??= await this.#readAt(seg.first, offset, FRAME_HEADER);
        const f = decodeHeader(header, offset);
        const next = f ? offset + FRAME_HEADER + f.size : 0;
        let payload: Buffer = EMPTY;
        let ok = f !== undefined && next <= seg.size && f.seq > last;
        if (ok && !headersOnly) {
          // The payload and the next record's header in one read: one pread per record instead of two.
          const ahead = next + FRAME_HEADER <= seg.size ? FRAME_HEADER : 0;
          const buf = await this.#readAt(seg.first, offset + FRAME_HEADER, f!.size + ahead);
          payload = buf.subarray(0, f!.size);
          ok = payloadMatches(header, payload);
          header = ok && ahead ? buf.subarray(f!.size) : undefined;
        } else header = undefined;
        if (!ok || !f) {
          if (++reindexed > 3)
            throw new Error(`spool segment ${segName(seg.first)} keeps failing its checks`);
          await this.#index(seg);
          header = undefined;
          continue;
        }
        last = f.seq;
        yield { pos: { ...f, seg: seg.first }, payload };
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
      if (pos.seg !== this.#head.seg) this.#head = { ...this.#head, seg: pos.seg, records: 0, bytes: 0 };
      this.#head = {
        seg: pos.seg,
        offset: pos.offset + FRAME_HEADER + pos.size,
        records: this.#head.records + 1,
        bytes: this.#head.bytes + pos.size,
        seq: pos.seq + 1,
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
      if (this.#segments.length === 1) {
        const rolled = await this.#roll().catch(() => undefined);
        if (!rolled) return;
      }
      const oldest = this.#segments[0]!;
      const next = this.#segments[1]!;
      if (oldest.first >= this.#head.seg) {
        this.#dropped.full += oldest.records - (oldest.first === this.#head.seg ? this.#head.records : 0);
        this.#head = {
          seg: next.first,
          offset: 0,
          records: 0,
          bytes: 0,
          seq: Math.max(this.#head.seq, oldest.last + 1),
        };
        this.#peeked = [];
        this.#normalizeHead();
      }
      await this.#saveHead();
      // Over maxBytes the space must be given back even if the head could not be saved.
      await this.#deleteSegment(this.#segments.shift()!);
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
      this.#dropped.expired += await this.#consume(n);
      await this.#saveHead();
      await this.#deleteConsumedSegments();
    }
  }

  /** Deletes segments wholly delivered, once the saved head is past them too (else a restart would miss them). */
  async #deleteConsumedSegments(): Promise<void> {
    while (this.#segments.length > 1) {
      const seg = this.#segments[0]!;
      if (seg.first >= this.#head.seg || seg.last >= this.#savedSeq) return;
      this.#segments.shift();
      await this.#deleteSegment(seg);
    }
  }

  async #deleteSegment(seg: Segment): Promise<void> {
    await this.#readers
      .get(seg.first)
      ?.close()
      .catch(() => {});
    this.#readers.delete(seg.first);
    await rm(join(this.#opts.dir, segName(seg.first)), { force: true }).catch(() => {});
  }

  /** Takes over the records of a spool the previous version left (oldest first), then deletes its files. */
  async #migrateLegacy(): Promise<void> {
    const dir = this.#opts.dir;
    const { files, cursor } = await legacySegments(dir);
    for (const file of files) {
      const seg = await readLegacySegment(dir, file, cursor);
      for (const r of seg.records) {
        const err = await this.#appendOne(r.payload, r.at);
        if (err) {
          this.#log?.error(
            { file, err: err.message },
            "cannot take over the previous spool format's records yet; trying again at the next start",
          );
          return;
        }
        this.#migrated++;
      }
      if (seg.unreadableBytes > 0)
        this.#count(
          { checksum: { records: 1, bytes: seg.unreadableBytes }, torn: noLoss(), missing: noLoss() },
          `previous-format segment ${file}`,
        );
      await rm(join(dir, file), { force: true });
    }
    if (files.length > 0) {
      await rm(join(dir, LEGACY_CURSOR), { force: true });
      this.#log?.info(
        { records: this.#migrated, files: files.length },
        "took over the previous spool format",
      );
    }
  }

  async #readAt(first: number, position: number, length: number): Promise<Buffer> {
    let h = this.#readers.get(first);
    if (!h) {
      h = await open(join(this.#opts.dir, segName(first)), "r");
      this.#readers.set(first, h);
    }
    const buf = Buffer.alloc(length);
    const { bytesRead } = await h.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  }
}

const EMPTY = Buffer.alloc(0);

/** Writes all of `buf` at `position`: a short write (a disk filling up) is continued, and fails with ENOSPC. */
async function writeAt(h: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await h.write(buf, done, buf.length - done, position + done);
    if (bytesWritten === 0)
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    done += bytesWritten;
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
