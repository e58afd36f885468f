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

/** The connection is closed or broke (socket error, framing error, dead daemon); pending calls fail with it. */
export class LibvirtConnectionError extends Error {
  override name = "LibvirtConnectionError";
}

/** VIR_ERR_OPERATION_DENIED: e.g. a write attempted over the read-only socket. */
export const VIR_ERR_OPERATION_DENIED = 29;
/** VIR_ERR_NO_DOMAIN. */
export const VIR_ERR_NO_DOMAIN = 42;
