import { randomBytes } from "node:crypto";
import { open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Source } from "../collectors/sample.ts";
import type { Alarm, AlarmKind, AlarmTableState, Severity } from "./alarm.ts";

/** Settings of a FaultStore. */
export interface FaultStoreOptions {
  /** The agent's state directory; it must exist. */
  dir: string;
  /** File of the open alarms; defaults to `faults.json`. The id counter goes to the same name with `.counter`. */
  name?: string;
}

/** What `load` found: the state to restore (empty when nothing usable was found) and what was wrong. */
export interface FaultStoreLoad {
  state: AlarmTableState;
  /** Unreadable or corrupt files (moved aside with a `.corrupt` suffix); a missing file is not an error. */
  errors: Error[];
}

/**
 * Persists an AlarmTable's state: the open alarms and the last id counter as JSON, and the counter again in a
 * small file of its own so that ids keep increasing when the alarm file is lost or corrupt. Each file is
 * written atomically (temporary file in the same directory, fsync, rename, fsync of the directory); saves are
 * serialised in call order.
 */
export class FaultStore {
  readonly path: string;
  readonly counterPath: string;
  readonly #dir: string;
  readonly #name: string;
  #queue: Promise<void> = Promise.resolve();
  #counterWritten: number | undefined;

  constructor(options: FaultStoreOptions) {
    this.#dir = options.dir;
    this.#name = options.name ?? "faults.json";
    this.path = join(this.#dir, this.#name);
    this.counterPath = `${this.path}.counter`;
  }

  /** Reads the saved state. Corrupt files are reported and moved aside; the next `save` writes fresh ones. */
  async load(): Promise<FaultStoreLoad> {
    const errors: Error[] = [];
    await this.#removeTemporaries();
    const main = await this.#read(this.path, parseAlarmTableState, errors);
    const counter = await this.#read(this.counterPath, parseCounter, errors);
    const state: AlarmTableState = main ?? { version: 1, lastId: 0, alarms: [] };
    state.lastId = Math.max(state.lastId, counter ?? 0);
    return { state, errors };
  }

  /** Writes `state`; resolves once it is durable. A failed save rejects but does not stop later ones. */
  save(state: AlarmTableState): Promise<void> {
    const text = `${JSON.stringify(state)}\n`;
    const lastId = state.lastId;
    const run = this.#queue.then(async () => {
      // The counter first: a crash between the two writes must not leave it behind the alarm file.
      if (this.#counterWritten !== lastId) {
        await this.#writeAtomic(this.counterPath, `${lastId}\n`);
        this.#counterWritten = lastId;
      }
      await this.#writeAtomic(this.path, text);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #read<T>(path: string, parse: (json: unknown) => T, errors: Error[]): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      errors.push(new Error(`cannot read ${path}: ${(err as Error).message}`));
      return undefined;
    }
    try {
      return parse(JSON.parse(text));
    } catch (err) {
      errors.push(new Error(`corrupt ${path}: ${(err as Error).message}`));
      await rename(path, `${path}.corrupt`).catch(() => {});
      return undefined;
    }
  }

  async #writeAtomic(path: string, text: string): Promise<void> {
    const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(text, "utf8");
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await fh.close();
    try {
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await this.#syncDir();
  }

  async #syncDir(): Promise<void> {
    // Makes the rename itself durable; some file systems refuse fsync on a directory, and then there is no more to do.
    const dh = await open(this.#dir, "r").catch(() => undefined);
    if (!dh) return;
    await dh.sync().catch(() => {});
    await dh.close();
  }

  async #removeTemporaries(): Promise<void> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const leftover = new RegExp(`^${escapeRegExp(this.#name)}(\\.counter)?\\.[0-9a-f]{12}\\.tmp$`);
    for (const n of names) if (leftover.test(n)) await unlink(join(this.#dir, n)).catch(() => {});
  }
}

const KINDS: readonly AlarmKind[] = ["threshold", "lifecycle", "collector"];
const SEVERITIES: readonly Severity[] = ["CRITICAL", "MAJOR", "MINOR", "WARNING", "NORMAL"];

/** Checks a parsed alarm file; throws naming the first problem. */
export function parseAlarmTableState(json: unknown): AlarmTableState {
  const o = record(json, "state");
  if (o.version !== 1) throw new Error(`unsupported version ${JSON.stringify(o.version)}`);
  const lastId = counter(o.lastId, "lastId");
  if (!Array.isArray(o.alarms)) throw new Error("alarms is not an array");
  const alarms = o.alarms.map((a, i) => parseAlarm(a, `alarms[${i}]`));
  return { version: 1, lastId, alarms };
}

function parseCounter(json: unknown): number {
  return counter(json, "counter");
}

function parseAlarm(json: unknown, at: string): Alarm {
  const a = record(json, at);
  const str = (k: string) => {
    const v = a[k];
    if (typeof v !== "string" || v === "") throw new Error(`${at}.${k} is not a non-empty string`);
    return v;
  };
  const kind = str("kind") as AlarmKind;
  if (!KINDS.includes(kind)) throw new Error(`${at}.kind ${JSON.stringify(kind)} is unknown`);
  const severity = str("severity") as Severity;
  if (!SEVERITIES.includes(severity) || severity === "NORMAL")
    throw new Error(`${at}.severity ${JSON.stringify(severity)} is not a raised severity`);
  if (/\s/.test(str("eventId"))) throw new Error(`${at}.eventId has whitespace`);
  const labels = record(a.labels, `${at}.labels`);
  if (Object.values(labels).some((v) => typeof v !== "string"))
    throw new Error(`${at}.labels has a non-string value`);
  const alarm: Alarm = {
    key: str("key"),
    kind,
    eventId: str("eventId"),
    startEpochMicrosec: counter(a.startEpochMicrosec, `${at}.startEpochMicrosec`),
    lastEpochMicrosec: counter(a.lastEpochMicrosec, `${at}.lastEpochMicrosec`),
    sequence: counter(a.sequence, `${at}.sequence`),
    severity,
    condition: str("condition"),
    specificProblem: str("specificProblem"),
    source: parseSource(a.source, `${at}.source`),
    labels: labels as Record<string, string>,
  };
  const extra: { metric?: string; value?: number; bound?: number; state?: string } = {};
  if (a.metric !== undefined) extra.metric = str("metric");
  if (a.state !== undefined) extra.state = str("state");
  for (const k of ["value", "bound"] as const) {
    const v = a[k];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${at}.${k} is not a number`);
    extra[k] = v;
  }
  return { ...alarm, ...extra };
}

function parseSource(json: unknown, at: string): Source {
  const s = record(json, at);
  if (s.kind === "host") return { kind: "host" };
  if (s.kind === "vm" && typeof s.name === "string" && typeof s.uuid === "string")
    return { kind: "vm", name: s.name, uuid: s.uuid };
  throw new Error(`${at} is not a host or vm source`);
}

function record(json: unknown, at: string): Record<string, unknown> {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new Error(`${at} is not an object`);
  return json as Record<string, unknown>;
}

function counter(v: unknown, at: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new Error(`${at} is not a non-negative integer`);
  return v;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
