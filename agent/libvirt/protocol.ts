import { XdrReader, XdrWriter } from "./xdr.ts";

/** RPC programs (src/rpc/virnetprotocol.x, src/remote/remote_protocol.x, src/rpc/virkeepaliveprotocol.x). */
export const REMOTE_PROGRAM = 0x20008086;
/** The keepalive program, "keep" in ASCII. */
export const KEEPALIVE_PROGRAM = 0x6b656570;
/** Protocol version of both programs. */
export const PROTOCOL_VERSION = 1;

/** Message types of virNetMessageHeader. */
export const MessageType = {
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  CALL_WITH_FDS: 4,
  REPLY_WITH_FDS: 5,
} as const;
/** Status of virNetMessageHeader. */
export const MessageStatus = { OK: 0, ERROR: 1, CONTINUE: 2 } as const;

/** REMOTE_PROGRAM procedure numbers the client uses. */
export const Proc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  DOMAIN_GET_XML_DESC: 14,
  CONNECT_SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  CONNECT_GET_LIB_VERSION: 157,
  CONNECT_LIST_ALL_DOMAINS: 273,
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 316,
  CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY: 317,
  DOMAIN_EVENT_CALLBACK_LIFECYCLE: 318,
  CONNECT_GET_ALL_DOMAIN_STATS: 344,
} as const;

/** KEEPALIVE_PROGRAM procedures. */
export const KeepaliveProc = { PING: 1, PONG: 2 } as const;

/** VIR_DRV_FEATURE_PROGRAM_KEEPALIVE: advertising it makes the daemon send PINGs. */
export const FEATURE_PROGRAM_KEEPALIVE = 10;
/** VIR_CONNECT_RO. */
export const CONNECT_RO = 1;
/** VIR_DOMAIN_EVENT_ID_LIFECYCLE. */
export const EVENT_ID_LIFECYCLE = 0;

/** VIR_DOMAIN_STATS_* groups, the `stats` bitmask of CONNECT_GET_ALL_DOMAIN_STATS (0 = all the driver has). */
export const StatsGroup = {
  state: 1,
  "cpu-total": 2,
  balloon: 4,
  vcpu: 8,
  interface: 16,
  block: 32,
  perf: 64,
  iothread: 128,
  memory: 256,
  dirtyrate: 512,
  vm: 1024,
} as const;

/** VIR_CONNECT_LIST_DOMAINS_* flags. */
export const ListFlags = { ACTIVE: 1, INACTIVE: 2 } as const;

/** VIR_DOMAIN_EVENT_* lifecycle event codes, by number. */
export const LIFECYCLE_EVENTS = [
  "defined",
  "undefined",
  "started",
  "suspended",
  "resumed",
  "stopped",
  "shutdown",
  "pmsuspended",
  "crashed",
] as const;
/** A lifecycle event name. */
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number] | "unknown";

/** VIR_DOMAIN_* states, by number (state.state in domain stats). */
export const DOMAIN_STATES = [
  "nostate",
  "running",
  "blocked",
  "paused",
  "shutdown",
  "shutoff",
  "crashed",
  "pmsuspended",
] as const;
/** A domain state name. */
export type DomainState = (typeof DOMAIN_STATES)[number] | "unknown";

/**
 * The largest packet either side accepts: VIR_NET_MESSAGE_MAX (32 MiB since libvirt 5.x, virnetprotocol.x)
 * plus the length word. Bulk stats of about 9000 domains need more than the older 16 MiB.
 */
export const MAX_PACKET = 32 * 1024 * 1024 + 4;
/** Bytes of the length word plus the header. */
export const HEADER_SIZE = 28;

/** virNetMessageHeader. */
export interface Header {
  prog: number;
  vers: number;
  proc: number;
  type: number;
  serial: number;
  status: number;
}

/** Frames one packet: total length (including itself), header, payload. */
export function encodePacket(header: Header, payload?: Uint8Array): Buffer {
  const w = new XdrWriter(HEADER_SIZE + (payload?.length ?? 0));
  w.uint(0)
    .uint(header.prog)
    .uint(header.vers)
    .int(header.proc)
    .int(header.type)
    .uint(header.serial)
    .int(header.status);
  if (payload) w.fixedOpaque(payload);
  const buf = Buffer.from(w.bytes());
  buf.writeUInt32BE(buf.length, 0);
  return buf;
}

/** Reads the header of a complete packet (as the splitter yields it). */
export function decodeHeader(packet: Buffer): Header {
  const r = new XdrReader(packet, 4, HEADER_SIZE);
  return { prog: r.uint(), vers: r.uint(), proc: r.int(), type: r.int(), serial: r.uint(), status: r.int() };
}

/** Thrown when the stream carries a packet length no libvirt peer would send. */
export class FramingError extends Error {
  override name = "FramingError";
}

/**
 * Cuts a byte stream into packets. Feed it socket chunks; it returns the complete packets found so far and
 * keeps any partial tail, so packets split across chunks or several packets in one chunk both work.
 */
export class PacketSplitter {
  // Chunks are kept apart and joined once their packet is complete: joining on every chunk would copy a
  // large reply (megabytes of bulk stats in 64 KiB reads) quadratically.
  #chunks: Buffer[] = [];
  #size = 0;
  /** Length of the packet being assembled, once its length word has arrived. */
  #need = 0;

  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    const out: Buffer[] = [];
    while (this.#size >= 4) {
      if (this.#need === 0) {
        if (this.#chunks[0]!.length < 4) this.#chunks = [Buffer.concat(this.#chunks, this.#size)];
        const len = this.#chunks[0]!.readUInt32BE(0);
        if (len < HEADER_SIZE || len > MAX_PACKET)
          throw new FramingError(`invalid libvirt packet length ${len}`);
        this.#need = len;
      }
      if (this.#size < this.#need) break;
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#size);
      out.push(all.subarray(0, this.#need));
      const rest = all.subarray(this.#need);
      this.#chunks = rest.length ? [rest] : [];
      this.#size = rest.length;
      this.#need = 0;
    }
    return out;
  }

  /** Bytes waiting for the rest of their packet. */
  get buffered(): number {
    return this.#size;
  }

  /** Length of the packet being assembled (0 until its length word has arrived). */
  get expected(): number {
    return this.#need;
  }
}
