/** XDR (RFC 4506) encoding as libvirt's RPC uses it: big-endian, everything padded to 4 bytes. */
export class XdrWriter {
  #buf: Buffer;
  #len = 0;

  constructor(initial = 256) {
    this.#buf = Buffer.alloc(initial);
  }

  #reserve(n: number): number {
    if (this.#len + n > this.#buf.length) {
      const next = Buffer.alloc(Math.max(this.#buf.length * 2, this.#len + n));
      this.#buf.copy(next, 0, 0, this.#len);
      this.#buf = next;
    }
    const at = this.#len;
    this.#len += n;
    return at;
  }

  int(v: number): this {
    // Reserve first: it may replace the buffer the write must go to.
    const at = this.#reserve(4);
    this.#buf.writeInt32BE(v, at);
    return this;
  }

  uint(v: number): this {
    const at = this.#reserve(4);
    this.#buf.writeUInt32BE(v >>> 0, at);
    return this;
  }

  hyper(v: bigint): this {
    const at = this.#reserve(8);
    this.#buf.writeBigInt64BE(v, at);
    return this;
  }

  uhyper(v: bigint): this {
    const at = this.#reserve(8);
    this.#buf.writeBigUInt64BE(v, at);
    return this;
  }

  double(v: number): this {
    const at = this.#reserve(8);
    this.#buf.writeDoubleBE(v, at);
    return this;
  }

  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  /** Fixed-length opaque data (e.g. a 16-byte UUID): the bytes, padded. */
  fixedOpaque(bytes: Uint8Array): this {
    const padded = (bytes.length + 3) & ~3;
    const at = this.#reserve(padded);
    this.#buf.set(bytes, at);
    this.#buf.fill(0, at + bytes.length, at + padded);
    return this;
  }

  /** A string: length, UTF-8 bytes, padding. */
  string(v: string): this {
    const bytes = Buffer.from(v, "utf8");
    this.uint(bytes.length);
    return this.fixedOpaque(bytes);
  }

  /** An optional value (`T *` in XDR): a presence flag, then the value. */
  optional<T>(v: T | null | undefined, write: (w: this, v: T) => void): this {
    if (v === null || v === undefined) return this.uint(0);
    this.uint(1);
    write(this, v);
    return this;
  }

  /** A variable-length array: count, then each element. */
  array<T>(items: readonly T[], write: (w: this, v: T) => void): this {
    this.uint(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  get length(): number {
    return this.#len;
  }

  /** The bytes written so far (a view, not a copy). */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
}

/** Thrown when a payload ends early or declares an impossible length. */
export class XdrError extends Error {
  override name = "XdrError";
}

/** XDR decoding from a buffer; every read checks bounds and throws XdrError instead of reading garbage. */
export class XdrReader {
  readonly #buf: Buffer;
  #pos: number;
  readonly #end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#pos = start;
    this.#end = end;
  }

  #take(n: number): number {
    if (n < 0 || this.#pos + n > this.#end)
      throw new XdrError(
        `XDR payload truncated: need ${n} bytes at offset ${this.#pos}, have ${this.#end - this.#pos}`,
      );
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  int(): number {
    return this.#buf.readInt32BE(this.#take(4));
  }

  uint(): number {
    return this.#buf.readUInt32BE(this.#take(4));
  }

  hyper(): bigint {
    return this.#buf.readBigInt64BE(this.#take(8));
  }

  uhyper(): bigint {
    return this.#buf.readBigUInt64BE(this.#take(8));
  }

  double(): number {
    return this.#buf.readDoubleBE(this.#take(8));
  }

  bool(): boolean {
    return this.int() !== 0;
  }

  fixedOpaque(n: number): Buffer {
    const at = this.#take((n + 3) & ~3);
    return Buffer.from(this.#buf.subarray(at, at + n));
  }

  /** A string, refusing lengths above `max` (libvirt's VIR_NET_MESSAGE_STRING_MAX is 4 MiB). */
  string(max = 4 * 1024 * 1024): string {
    const n = this.uint();
    if (n > max) throw new XdrError(`XDR string of ${n} bytes exceeds ${max}`);
    const at = this.#take((n + 3) & ~3);
    return this.#buf.toString("utf8", at, at + n);
  }

  optional<T>(read: (r: this) => T): T | null {
    const present = this.uint();
    if (present > 1) throw new XdrError(`XDR optional flag ${present} is neither 0 nor 1`);
    return present ? read(this) : null;
  }

  /** A variable-length array, refusing counts above `max` (the `<N>` bound in the .x file). */
  array<T>(read: (r: this) => T, max: number): T[] {
    const n = this.uint();
    if (n > max) throw new XdrError(`XDR array of ${n} elements exceeds its bound ${max}`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#end - this.#pos;
  }
}
