import { readFile, stat } from "node:fs/promises";

/** Reads a token file again when it changes, keeping the last good token if a read fails (as client-go). */
export class FileToken {
  readonly #file: string;
  readonly #checkMs: number;
  #token: string | undefined;
  #stamp = "";
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(file: string, checkMs: number) {
    this.#file = file;
    this.#checkMs = checkMs;
  }

  /** The token, from the file as it was at most `checkMs` ago. */
  async get(): Promise<string> {
    const now = Date.now();
    if (this.#token !== undefined && now - this.#checkedAt < this.#checkMs) return this.#token;
    this.#checkedAt = now;
    try {
      // The kubelet swaps a projected token in through a symlink: a new inode, whatever the mtime.
      const s = await stat(this.#file);
      const stamp = `${s.ino}:${s.mtimeMs}:${s.size}`;
      if (stamp !== this.#stamp || this.#token === undefined) {
        this.#token = (await readFile(this.#file, "utf8")).trim();
        this.#stamp = stamp;
      }
    } catch (err) {
      if (this.#token === undefined)
        throw new Error(
          `cannot read the token file ${this.#file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        );
    }
    return this.#token;
  }
}
