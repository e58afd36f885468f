import type { Source } from "../collectors/sample.ts";

/** VES faultFields.eventSeverity; NORMAL is a clear. */
export type Severity = "CRITICAL" | "MAJOR" | "MINOR" | "WARNING" | "NORMAL";

/** Severities an open alarm can have (NORMAL only appears on the clear record). */
export type RaisedSeverity = Exclude<Severity, "NORMAL">;

/** What raised an alarm: a threshold, a VM lifecycle change or a failing collector. */
export type AlarmKind = "threshold" | "lifecycle" | "collector";

/**
 * One fault as the VES event builder needs it. `eventId` and `startEpochMicrosec` stay the same from raise to
 * clear; `sequence` is 1 on the raise and grows by one with every record sent after it, the clear included.
 */
export interface Alarm {
  /** Stable identity: kind, source, metric and labels (see `alarmKey`). */
  readonly key: string;
  readonly kind: AlarmKind;
  /** `fault` and a zero-padded counter, no whitespace; a new one for every raise after a clear. */
  readonly eventId: string;
  /** Onset of the fault, integer µs since the epoch. */
  readonly startEpochMicrosec: number;
  /** Time of this record (VES lastEpochMicrosec), integer µs since the epoch. */
  readonly lastEpochMicrosec: number;
  readonly sequence: number;
  readonly severity: Severity;
  /** VES alarmCondition: short CamelCase name, e.g. `VmCpuPercentHigh`, `VmCrashed`. */
  readonly condition: string;
  /** VES specificProblem: human text, e.g. with the value and the bound crossed. */
  readonly specificProblem: string;
  readonly source: Source;
  /** The metric a threshold alarm is about; lifecycle alarms use `vm.state`. */
  readonly metric?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The value that caused this record, for threshold alarms. */
  readonly value?: number;
  /** The bound crossed (or, on a clear, the bound the value came back inside of). */
  readonly bound?: number;
  /** The raising engine's own state (e.g. `failure:max`), persisted so the engine resumes after a restart. */
  readonly state?: string;
}

/** A record to send: the raise, a change while open (escalation, de-escalation, re-send), or the clear. */
export interface AlarmUpdate {
  readonly type: "raise" | "update" | "clear";
  readonly alarm: Alarm;
}

/** What an engine asserts about a fault that is (still) present. */
export interface AlarmInput {
  kind: AlarmKind;
  source: Source;
  metric?: string;
  labels?: Readonly<Record<string, string>>;
  severity: RaisedSeverity;
  condition: string;
  specificProblem: string;
  value?: number;
  bound?: number;
  state?: string;
}

/** What the clear record says besides NORMAL; omitted fields keep the open alarm's. */
export interface ClearInput {
  specificProblem?: string;
  value?: number;
  bound?: number;
}

/** The persisted form of an AlarmTable: the open alarms and the last id counter handed out. */
export interface AlarmTableState {
  version: 1;
  lastId: number;
  alarms: Alarm[];
}

/** A source of eventIds. `last` is the counter of the id handed out most recently, persisted to continue after it. */
export interface AlarmIds {
  next(): string;
  readonly last: number;
}

/** Digits of the counter part of a fault eventId (`fault0000000042`); equal lengths also sort as text. */
export const FAULT_ID_DIGITS = 10;

/** The default AlarmIds: `fault` + zero-padded counter, one more on every call. */
export class FaultIdSequence implements AlarmIds {
  readonly prefix: string;
  #last: number;

  /** `last`: the counter already used (0 when none was). */
  constructor(prefix = "fault", last = 0) {
    if (!/^[A-Za-z][A-Za-z0-9._:-]*$/.test(prefix)) throw new RangeError(`invalid eventId prefix ${prefix}`);
    if (!Number.isSafeInteger(last) || last < 0) throw new RangeError(`invalid eventId counter ${last}`);
    this.prefix = prefix;
    this.#last = last;
  }

  next(): string {
    this.#last++;
    return `${this.prefix}${String(this.#last).padStart(FAULT_ID_DIGITS, "0")}`;
  }

  get last(): number {
    return this.#last;
  }
}

/** A stable text for a source: `host`, or `vm:` and the domain UUID (names can change, UUIDs do not). */
export function sourceKey(source: Source): string {
  return source.kind === "host" ? "host" : `vm:${source.uuid}`;
}

/** The identity of an alarm: the same fault of the same instance always gets the same key. */
export function alarmKey(
  kind: AlarmKind,
  source: Source,
  metric = "",
  labels: Readonly<Record<string, string>> = {},
): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]]);
  return JSON.stringify([kind, sourceKey(source), metric, sorted]);
}

/** Integer µs from ms, as VES wants its epoch fields. */
export function toMicros(timeMs: number): number {
  return Math.round(timeMs * 1000);
}

/** Settings of an AlarmTable. */
export interface AlarmTableOptions {
  /** Wall clock in ms, used when a call gives no time. Defaults to Date.now. */
  now?: () => number;
  /** Makes the id source from the last counter used (restored state, or 0). Defaults to FaultIdSequence("fault"). */
  ids?: (last: number) => AlarmIds;
  /** State from a previous `snapshot()`, e.g. loaded by a FaultStore. */
  state?: AlarmTableState;
}

/**
 * The open faults, by key. Every state change returns the AlarmUpdate to send; a call that changes nothing
 * returns undefined. A clear forgets the key, so the next raise of the same fault gets a new eventId.
 */
export class AlarmTable {
  readonly #open = new Map<string, Alarm>();
  readonly #ids: AlarmIds;
  readonly #now: () => number;

  constructor(options: AlarmTableOptions = {}) {
    this.#now = options.now ?? Date.now;
    let last = options.state?.lastId ?? 0;
    for (const saved of options.state?.alarms ?? []) {
      // Recomputed so that a saved key from an older key format still matches what the engines look up.
      const key = alarmKey(saved.kind, saved.source, saved.metric, saved.labels);
      this.#open.set(key, { ...saved, key });
      // Never hand out an id an open alarm already carries, even if the saved counter lags behind.
      last = Math.max(last, idCounter(saved.eventId));
    }
    this.#ids = (options.ids ?? ((n) => new FaultIdSequence("fault", n)))(last);
  }

  /**
   * Asserts a present fault: raises it when it is not open; sends an update when its severity, condition or
   * engine state changed (escalation or de-escalation, same eventId and start, next sequence); otherwise
   * returns undefined and keeps the record as it was sent (a new value alone is not worth an event).
   */
  set(input: AlarmInput, timeMs = this.#now()): AlarmUpdate | undefined {
    const key = alarmKey(input.kind, input.source, input.metric, input.labels);
    const open = this.#open.get(key);
    const micros = toMicros(timeMs);
    if (
      open &&
      open.severity === input.severity &&
      open.condition === input.condition &&
      open.state === input.state
    )
      return undefined;
    const alarm: Alarm = {
      key,
      kind: input.kind,
      eventId: open?.eventId ?? this.#ids.next(),
      startEpochMicrosec: open?.startEpochMicrosec ?? micros,
      lastEpochMicrosec: micros,
      sequence: open ? open.sequence + 1 : 1,
      severity: input.severity,
      condition: input.condition,
      specificProblem: input.specificProblem,
      source: input.source,
      labels: { ...input.labels },
      ...optional(input),
    };
    this.#open.set(key, alarm);
    return { type: open ? "update" : "raise", alarm };
  }

  /** Re-sends an open alarm unchanged but for its time and the next sequence (a re-raise); undefined when not open. */
  resend(key: string, timeMs = this.#now()): AlarmUpdate | undefined {
    const open = this.#open.get(key);
    if (!open) return undefined;
    const alarm: Alarm = { ...open, sequence: open.sequence + 1, lastEpochMicrosec: toMicros(timeMs) };
    this.#open.set(key, alarm);
    return { type: "update", alarm };
  }

  /** Clears an open alarm: a final NORMAL record with the next sequence, then the key is forgotten. */
  clear(key: string, input: ClearInput = {}, timeMs = this.#now()): AlarmUpdate | undefined {
    const open = this.#open.get(key);
    if (!open) return undefined;
    this.#open.delete(key);
    const { state: _state, ...rest } = open;
    const alarm: Alarm = {
      ...rest,
      sequence: open.sequence + 1,
      lastEpochMicrosec: toMicros(timeMs),
      severity: "NORMAL",
      specificProblem: input.specificProblem ?? open.specificProblem,
      ...(input.value !== undefined ? { value: input.value } : {}),
      ...(input.bound !== undefined ? { bound: input.bound } : {}),
    };
    return { type: "clear", alarm };
  }

  /** Clears every open alarm `match` accepts, in raise order. */
  clearWhere(match: (alarm: Alarm) => boolean, input: ClearInput = {}, timeMs = this.#now()): AlarmUpdate[] {
    const out: AlarmUpdate[] = [];
    for (const alarm of this.list(match)) {
      const u = this.clear(alarm.key, input, timeMs);
      if (u) out.push(u);
    }
    return out;
  }

  /** The open alarm of `key`. */
  get(key: string): Alarm | undefined {
    return this.#open.get(key);
  }

  /** Open alarms, optionally filtered, in raise order. */
  list(match?: (alarm: Alarm) => boolean): Alarm[] {
    const all = [...this.#open.values()];
    return match ? all.filter(match) : all;
  }

  /** Number of open alarms. */
  get size(): number {
    return this.#open.size;
  }

  /** The state to persist: open alarms and the last id counter. */
  snapshot(): AlarmTableState {
    return { version: 1, lastId: this.#ids.last, alarms: this.list() };
  }
}

function optional(input: AlarmInput): Partial<Alarm> {
  const out: { metric?: string; value?: number; bound?: number; state?: string } = {};
  if (input.metric !== undefined) out.metric = input.metric;
  if (input.value !== undefined) out.value = input.value;
  if (input.bound !== undefined) out.bound = input.bound;
  if (input.state !== undefined) out.state = input.state;
  return out;
}

/** The counter at the end of an eventId, 0 when there is none. */
function idCounter(eventId: string): number {
  const m = /(\d+)$/.exec(eventId);
  const n = m ? Number(m[1]) : 0;
  return Number.isSafeInteger(n) ? n : 0;
}
