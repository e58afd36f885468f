import { crc32 } from "node:zlib";

/**
 * The spool's record frame (format 2), 28 bytes of header then the payload:
 *
 *   0  u32  magic 0xFF565352 ("\xFFVSR"); 0xFF never occurs in UTF-8, so never inside a JSON payload
 *   4  u32  payload length
 *   8  u64  sequence number, one more per record of the spool, never reused
 *  16  f64  append time, ms since the epoch
 *  24  u32  CRC-32 (zlib's, ISO-HDLC polynomial) of bytes 4..24 and the payload
 *
 * The magic lets a reader find the next record after damaged bytes; the sequence number tells how many
 * records a damaged range or a deleted segment file held, so each loss is counted exactly.
 */
export const FRAME_HEADER = 28;
/** Largest payload a frame may carry. */
export const MAX_RECORD = 16 * 1024 * 1024;
const MAGIC = 0xff565352;
const MAGIC_BYTE = 0xff;

/** One record's place in a segment. */
export interface Frame {
  offset: number;
  /** Payload bytes. */
  size: number;
  seq: number;
  /** Append time, ms. */
  at: number;
}

/** Builds a frame around `payload`. */
export function encodeFrame(seq: number, at: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt32BE(payload.length, 4);
  out.writeBigUInt64BE(BigInt(seq), 8);
  out.writeDoubleBE(at, 16);
  out.writeUInt32BE(crc32(payload, crc32(out.subarray(4, 24))), 24);
  payload.copy(out, FRAME_HEADER);
  return out;
}

/** The frame a header describes, when it looks like one (magic, a sane length); the payload is not checked. */
export function decodeHeader(header: Buffer, offset: number): Frame | undefined {
  if (header.length < FRAME_HEADER || header.readUInt32BE(0) !== MAGIC) return undefined;
  const size = header.readUInt32BE(4);
  const seq = header.readBigUInt64BE(8);
  if (size > MAX_RECORD || seq > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { offset, size, seq: Number(seq), at: header.readDoubleBE(16) };
}

/** True when `payload` is the one `header` was written with. */
export function payloadMatches(header: Buffer, payload: Buffer): boolean {
  return crc32(payload, crc32(header.subarray(4, 24))) === header.readUInt32BE(24);
}

/** The whole, verified frame at `offset` of `buf`, if there is one. */
export function frameAt(buf: Buffer, offset: number): Frame | undefined {
  const header = buf.subarray(offset, offset + FRAME_HEADER);
  const f = decodeHeader(header, offset);
  if (!f || offset + FRAME_HEADER + f.size > buf.length) return undefined;
  return payloadMatches(header, buf.subarray(offset + FRAME_HEADER, offset + FRAME_HEADER + f.size))
    ? f
    : undefined;
}

/** A byte range holding no verified record. */
export interface Hole {
  offset: number;
  end: number;
  /** Frame magics inside it: a lower bound of the records it held. */
  magics: number;
}

/** What a segment file holds: its verified records in order, and the damaged ranges between them. */
export interface SegmentIndex {
  frames: Frame[];
  holes: Hole[];
}

/**
 * Indexes a segment: verified frames with increasing sequence numbers (at least `minSeq`); whatever lies
 * between is a hole, skipped by scanning forward to the next byte that starts a verified frame.
 */
export function indexSegment(buf: Buffer, minSeq: number): SegmentIndex {
  const frames: Frame[] = [];
  const holes: Hole[] = [];
  const valid = (o: number) => {
    const f = frameAt(buf, o);
    return f && f.seq >= (frames.at(-1)?.seq ?? minSeq - 1) + 1 ? f : undefined;
  };
  let offset = 0;
  while (offset < buf.length) {
    const f = valid(offset);
    if (f) {
      frames.push(f);
      offset += FRAME_HEADER + f.size;
      continue;
    }
    let next = offset;
    let magics = 0;
    for (;;) {
      if (next + 4 <= buf.length && buf.readUInt32BE(next) === MAGIC) magics++;
      next = buf.indexOf(MAGIC_BYTE, next + 1);
      if (next < 0 || valid(next)) break;
    }
    const end = next < 0 ? buf.length : next;
    holes.push({ offset, end, magics });
    offset = end;
  }
  return { frames, holes };
}
