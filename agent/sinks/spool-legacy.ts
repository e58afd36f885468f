import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";

// The spool format of vesmon before format 2 (spool-frame.ts): `<20-digit counter>.seg` files of records
// with a 16-byte header (u32 length, u32 CRC-32 of the payload, f64 append time) and a `cursor.json`
// {seg, offset} naming the first undelivered record. It had no sync marker, so damage cost the rest of a file.

const HEADER = 16;
const LEGACY_SEGMENT = /^\d{20}\.seg$/;
/** The legacy cursor file; removed once every legacy segment is migrated. */
export const LEGACY_CURSOR = "cursor.json";

/** One legacy segment still to migrate: its file name, its undelivered records, and what could not be read. */
export interface LegacySegment {
  file: string;
  records: { at: number; payload: Buffer }[];
  /** Bytes after the last readable record (a torn or damaged record, and anything after it). */
  unreadableBytes: number;
}

/** The legacy segment files in `dir`, oldest first, without the ones the legacy cursor says were delivered. */
export async function legacySegments(
  dir: string,
): Promise<{ files: string[]; cursor?: { seg: number; offset: number } }> {
  const files = (await readdir(dir)).filter((f) => LEGACY_SEGMENT.test(f)).sort();
  let cursor: { seg: number; offset: number } | undefined;
  try {
    const c = JSON.parse(await readFile(join(dir, LEGACY_CURSOR), "utf8")) as {
      seg?: unknown;
      offset?: unknown;
    };
    if (typeof c.seg === "number" && typeof c.offset === "number") cursor = { seg: c.seg, offset: c.offset };
  } catch {
    // No cursor: every legacy record is still undelivered.
  }
  return cursor ? { files, cursor } : { files };
}

/** Reads one legacy segment: the records at or after the cursor, in order. */
export async function readLegacySegment(
  dir: string,
  file: string,
  cursor?: { seg: number; offset: number },
): Promise<LegacySegment> {
  const seq = Number(file.slice(0, 20));
  const buf = await readFile(join(dir, file));
  const records: LegacySegment["records"] = [];
  let offset = 0;
  while (offset + HEADER <= buf.length) {
    const size = buf.readUInt32BE(offset);
    const end = offset + HEADER + size;
    if (end > buf.length) break;
    const payload = buf.subarray(offset + HEADER, end);
    if (crc32(payload) !== buf.readUInt32BE(offset + 4)) break;
    const delivered =
      cursor !== undefined && (seq < cursor.seg || (seq === cursor.seg && offset < cursor.offset));
    if (!delivered) records.push({ at: buf.readDoubleBE(offset + 8), payload: Buffer.from(payload) });
    offset = end;
  }
  return { file, records, unreadableBytes: buf.length - offset };
}
