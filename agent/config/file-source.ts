import { createHash } from "node:crypto";
import { watch as fsWatch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import type { Timers } from "../../kube/timers.ts";
import type { PipelineProfile } from "../pipeline/profile-pipeline.ts";
import { readProfilesIsolated } from "./isolated-read.ts";
import type { ProfileError } from "./profile-files.ts";

/** Settings of a profile file source. */
export interface FileSourceOptions {
  /** A MonitoringProfile YAML file, or a directory of them. */
  path: string;
  /** How often the content is hashed to notice edits, ms. Defaults to 2000. */
  pollMs?: number;
  /** How long an edit must stay unchanged before it is read, ms. Defaults to 500. */
  debounceMs?: number;
  /**
   * Calls `onEvent` when something in `dir` may have changed, and returns how to stop; it only hastens the
   * next poll. Defaults to inotify through `fs.watch`; nothing when that is unavailable.
   */
  watchDir?: (dir: string, onEvent: () => void) => () => void;
  timers: Timers;
  log: Logger;
}

/** A configuration read from files, or why the last edit was refused. */
export type FileConfig = { ok: true; profiles: PipelineProfile[] } | { ok: false; errors: ProfileError[] };

/** Watches a directory with inotify (`fs.watch`); a directory that cannot be watched is left to the poll. */
export function watchDirectory(dir: string, onEvent: () => void): () => void {
  try {
    const w = fsWatch(dir, { persistent: false }, () => onEvent());
    w.on("error", () => w.close());
    return () => w.close();
  } catch {
    return () => {};
  }
}

/**
 * Standalone configuration: profiles from a file or directory. inotify on the directory notices an edit at
 * once; a poll by content hash is the ground truth (mounted ConfigMaps and editors replace files in ways
 * inotify misses or repeats). Edits are debounced. Each profile's generation goes up when
 * its spec changes. An edit that does not validate is refused with the validator's messages; the caller keeps
 * running what it has.
 */
export class ProfileFileSource {
  readonly #opts: FileSourceOptions;
  readonly #generations = new Map<string, { hash: string; generation: number }>();
  #lastHash: string | undefined;
  #timer: unknown;
  #stopped = false;
  #unwatch: (() => void) | undefined;

  constructor(opts: FileSourceOptions) {
    this.#opts = opts;
  }

  /** Reads the current configuration once. */
  async read(): Promise<FileConfig> {
    this.#lastHash = await this.#hash();
    const set = await readProfilesIsolated(this.#opts.path);
    if (set.errors.length) return { ok: false, errors: set.errors };
    if (set.profiles.length === 0)
      return { ok: false, errors: [{ source: this.#opts.path, message: "no MonitoringProfile found" }] };
    return {
      ok: true,
      profiles: set.profiles.map(({ profile }) => {
        const { nodeSelector: _ignored, ...spec } = profile.spec;
        const hash = createHash("sha256").update(JSON.stringify(spec)).digest("hex");
        const prev = this.#generations.get(profile.metadata.name);
        const generation = !prev ? 1 : prev.hash === hash ? prev.generation : prev.generation + 1;
        this.#generations.set(profile.metadata.name, { hash, generation });
        return { name: profile.metadata.name, generation, spec };
      }),
    };
  }

  /** Watches for edits and calls `onChange` with each new configuration (or refusal). */
  watch(onChange: (config: FileConfig) => void | Promise<void>): void {
    const { timers, pollMs = 2000, debounceMs = 500, watchDir = watchDirectory } = this.#opts;
    let polling = false;
    let again = false;
    const poll = async () => {
      if (this.#stopped) return;
      // An inotify event during a poll is looked at right after it, never by a second poll at the same time.
      if (polling) {
        again = true;
        return;
      }
      polling = true;
      timers.clearTimeout(this.#timer);
      try {
        const hash = await this.#hash();
        if (hash !== this.#lastHash) {
          await new Promise<void>((r) => timers.setTimeout(r, debounceMs));
          if (this.#stopped) return;
          if ((await this.#hash()) === hash) await onChange(await this.read());
        }
      } catch (err) {
        this.#opts.log.warn({ path: this.#opts.path, err: (err as Error).message }, "cannot read profiles");
      }
      polling = false;
      if (this.#stopped) return;
      if (again) {
        again = false;
        void poll();
      } else this.#timer = timers.setTimeout(poll, pollMs);
    };
    this.#timer = timers.setTimeout(poll, pollMs);
    // The file's directory, not the file: a rename over it (editors, ConfigMap symlink swaps) replaces the inode.
    const path = this.#opts.path;
    void stat(path)
      .then(
        (st) => st.isDirectory(),
        () => false,
      )
      .then((isDir) => {
        if (!this.#stopped) this.#unwatch = watchDir(isDir ? path : dirname(path), () => void poll());
      });
  }

  stop(): void {
    this.#stopped = true;
    this.#opts.timers.clearTimeout(this.#timer);
    this.#unwatch?.();
  }

  async #hash(): Promise<string> {
    const h = createHash("sha256");
    const path = this.#opts.path;
    const files = (await stat(path).catch(() => undefined))?.isDirectory()
      ? (await readdir(path))
          .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith("."))
          .sort()
          .map((f) => join(path, f))
      : [path];
    for (const f of files)
      h.update(f)
        .update("\0")
        .update(await readFile(f).catch(() => Buffer.from("(unreadable)")))
        .update("\0");
    return h.digest("hex");
  }
}
