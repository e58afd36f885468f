import type { RemoteError } from "./remote.ts";

/** An error the daemon returned (remote_error): code, domain and message as libvirt defines them. */
export class LibvirtError extends Error {
  override name = "LibvirtError";
  /** virErrorNumber, e.g. 42 VIR_ERR_NO_DOMAIN, 29 VIR_ERR_OPERATION_DENIED. */
  readonly code: number;
  /** virErrorDomain, the subsystem that raised it. */
  readonly domain: number;
  readonly level: number;
  /** The procedure whose call failed. */
  readonly proc: number;

  constructor(err: RemoteError, proc: number) {
    super(err.message ?? `libvirt error ${err.code} (domain ${err.domain})`);
    this.code = err.code;
    this.domain = err.domain;
    this.level = err.level;
    this.proc = proc;
  }
}

/** A call that got no reply within its timeout; the connection stays usable. */
export class LibvirtTimeoutError extends Error {
  override name = "LibvirtTimeoutError";
}

/**
 * Why a connection ended or could not be made; a small fixed set, so it can label a metric.
 * - `unreachable`: the socket file is absent or not a socket (ENOENT, ENOTSOCK).
 * - `refused`: the socket exists but nobody listens (ECONNREFUSED), or another socket error.
 * - `closed`: the daemon hung up.
 * - `protocol`: the daemon sent bytes no libvirt daemon sends (framing, header or payload decoding).
 * - `stalled`: a packet's body did not arrive in time.
 * - `keepalive`: the daemon answered no keepalive pings.
 * - `handshake`: the daemon refused the handshake (authentication, CONNECT_OPEN).
 * - `client`: this client closed it.
 */
export type ConnectionErrorReason =
  | "unreachable"
  | "refused"
  | "closed"
  | "protocol"
  | "stalled"
  | "keepalive"
  | "handshake"
  | "client";

/** The connection is closed or broke (socket error, framing error, dead daemon); pending calls fail with it. */
export class LibvirtConnectionError extends Error {
  override name = "LibvirtConnectionError";
  readonly reason: ConnectionErrorReason;

  constructor(message: string, reason: ConnectionErrorReason = "closed", options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * The daemon sent something no libvirt daemon sends: an impossible length, an unknown program, type or serial,
 * or a payload that does not decode. The stream can no longer be trusted, so the connection is broken with it.
 */
export class LibvirtProtocolError extends LibvirtConnectionError {
  override name = "LibvirtProtocolError";

  constructor(message: string, options?: ErrorOptions) {
    super(message, "protocol", options);
  }
}

/** VIR_ERR_OPERATION_DENIED: e.g. a write attempted over the read-only socket. */
export const VIR_ERR_OPERATION_DENIED = 29;
/** VIR_ERR_NO_DOMAIN. */
export const VIR_ERR_NO_DOMAIN = 42;
