import type { Sample, Source, SourceEvent } from "../collectors/sample.ts";
import { DOMAIN_STATES } from "../libvirt/protocol.ts";
import { type AlarmTable, type AlarmUpdate, alarmKey, type RaisedSeverity, sourceKey } from "./alarm.ts";

/** The metric lifecycle alarms are filed under (their key), and whose samples are read for the domain state. */
export const LIFECYCLE_METRIC = "vm.state";

/** Why a VM is not running, as a lifecycle alarm says it. */
export type LifecycleCause = "crashed" | "paused" | "stopped";

/** A lifecycle fault: what to raise, or `clear` (the VM runs again, or left this host). */
export type LifecycleVerdict =
  | { kind: "raise"; cause: LifecycleCause; severity: RaisedSeverity; condition: string; text: string }
  | { kind: "clear"; text: string };

const CRASHED = { cause: "crashed", severity: "CRITICAL", condition: "VmCrashed" } as const;
const PAUSED = { cause: "paused", severity: "WARNING", condition: "VmPaused" } as const;
const STOPPED = { cause: "stopped", severity: "MAJOR", condition: "VmStopped" } as const;

// libvirt's VIR_DOMAIN_EVENT_SUSPENDED_* and VIR_DOMAIN_EVENT_STOPPED_* detail codes that change the verdict.
const SUSPENDED_MIGRATED = 1;
const SUSPENDED_IOERROR = 2;
const SUSPENDED_POSTCOPY = 7;
const STOPPED_CRASHED = 2;
const STOPPED_MIGRATED = 3;
const STOPPED_FAILED = 5;

/**
 * The verdict on a libvirt lifecycle event, undefined for events that change nothing (defined, unknown).
 *
 * - crashed, and stopped because it crashed or its emulator failed → CRITICAL `VmCrashed`.
 * - stopped (shut down, destroyed, saved) and shutdown (shutting down) → MAJOR `VmStopped`: the VM is defined
 *   on this host but not running.
 * - suspended → WARNING `VmPaused`, MAJOR when libvirt paused it on an I/O error; pmsuspended (guest S3/S4)
 *   → WARNING `VmPaused`.
 * - started, resumed → clear; stopped or suspended for a migration, and undefined → clear (the VM is leaving
 *   this host, or is gone).
 */
export function lifecycleEventVerdict(event: string, detail: number): LifecycleVerdict | undefined {
  switch (event) {
    case "crashed":
      return { kind: "raise", ...CRASHED, text: "VM crashed" };
    case "suspended":
      if (detail === SUSPENDED_MIGRATED || detail === SUSPENDED_POSTCOPY)
        return { kind: "clear", text: "VM paused for migration" };
      if (detail === SUSPENDED_IOERROR)
        return { kind: "raise", ...PAUSED, severity: "MAJOR", text: "VM paused after an I/O error" };
      return { kind: "raise", ...PAUSED, text: "VM paused" };
    case "pmsuspended":
      return { kind: "raise", ...PAUSED, text: "VM suspended by the guest (power management)" };
    case "stopped":
      if (detail === STOPPED_CRASHED) return { kind: "raise", ...CRASHED, text: "VM stopped after a crash" };
      if (detail === STOPPED_FAILED)
        return { kind: "raise", ...CRASHED, text: "VM stopped: its emulator failed" };
      if (detail === STOPPED_MIGRATED) return { kind: "clear", text: "VM migrated away" };
      return { kind: "raise", ...STOPPED, text: "VM stopped" };
    case "shutdown":
      return { kind: "raise", ...STOPPED, text: "VM shutting down" };
    case "started":
      return { kind: "clear", text: "VM started" };
    case "resumed":
      return { kind: "clear", text: "VM resumed" };
    case "undefined":
      return { kind: "clear", text: "VM undefined" };
    default:
      return undefined;
  }
}

/**
 * The verdict on a domain state seen in a `vm.state` sample (its `state` label): paused and pmsuspended →
 * WARNING, shutoff and shutdown → MAJOR, crashed → CRITICAL, running and blocked → clear, others undefined.
 */
export function domainStateVerdict(state: string): LifecycleVerdict | undefined {
  switch (state) {
    case "paused":
      return { kind: "raise", ...PAUSED, text: "VM is paused" };
    case "pmsuspended":
      return { kind: "raise", ...PAUSED, text: "VM is suspended by the guest (power management)" };
    case "shutoff":
      return { kind: "raise", ...STOPPED, text: "VM is shut off" };
    case "shutdown":
      return { kind: "raise", ...STOPPED, text: "VM is shutting down" };
    case "crashed":
      return { kind: "raise", ...CRASHED, text: "VM has crashed" };
    case "running":
    case "blocked":
      return { kind: "clear", text: "VM is running" };
    default:
      return undefined;
  }
}

/** Settings of LifecycleFaults. */
export interface LifecycleFaultsOptions {
  /** FaultSettings.vmLifecycle; defaults to true. */
  enabled?: boolean;
}

/**
 * VM lifecycle faults: one alarm per VM, raised by a lifecycle event or by the state in a `vm.state` sample (so
 * a VM already paused when the agent starts is reported), changed in place when the cause changes (paused →
 * crashed escalates with the same eventId), cleared when the VM runs again.
 *
 * Events are transitions and always apply. A state sample is a level: it raises, clears or changes the cause,
 * but leaves an alarm of the same cause as it is (an event may have said more, e.g. paused on an I/O error),
 * and a shut-off state does not replace a crash (a crashed VM ends up shut off).
 */
export class LifecycleFaults {
  readonly #table: AlarmTable;
  #enabled: boolean;
  /**
   * When each VM's latest lifecycle event was seen, until a state sample newer than it comes. A collection's
   * samples may have been read before an event that arrived during the same collection (a VM paused while its
   * stats were read): such a sample says nothing about the state after the event.
   */
  readonly #eventAt = new Map<string, number>();

  constructor(table: AlarmTable, options: LifecycleFaultsOptions = {}) {
    this.#table = table;
    this.#enabled = options.enabled ?? true;
  }

  /** Turns lifecycle faults on or off (FaultSettings.vmLifecycle); turning them off clears the open ones. */
  setEnabled(enabled: boolean, timeMs: number): AlarmUpdate[] {
    this.#enabled = enabled;
    if (enabled) return [];
    return this.#table.clearWhere(
      (a) => a.kind === "lifecycle",
      { specificProblem: "VM lifecycle faults disabled" },
      timeMs,
    );
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Lifecycle events of one collection, oldest first; other event kinds are skipped. */
  onEvents(events: readonly SourceEvent[]): AlarmUpdate[] {
    const out: AlarmUpdate[] = [];
    if (!this.#enabled) return out;
    for (const e of events) {
      if (e.kind !== "lifecycle" || e.source.kind !== "vm") continue;
      const verdict = lifecycleEventVerdict(e.event, e.detail);
      if (!verdict) continue;
      const key = keyOf(e.source);
      this.#eventAt.set(key, Math.max(this.#eventAt.get(key) ?? e.time, e.time));
      this.#apply(e.source, verdict, e.time, out);
    }
    return out;
  }

  /** The samples of one collection: `vm.state` samples raise or clear; others are skipped. */
  observe(samples: readonly Sample[], timeMs: number): AlarmUpdate[] {
    const out: AlarmUpdate[] = [];
    if (!this.#enabled) return out;
    for (const s of samples) {
      if (s.metric !== LIFECYCLE_METRIC || s.suspect || s.source.kind !== "vm") continue;
      const state = s.labels?.state ?? (DOMAIN_STATES as readonly string[])[s.value] ?? "";
      const verdict = domainStateVerdict(state);
      if (!verdict) continue;
      const key = keyOf(s.source);
      const eventAt = this.#eventAt.get(key);
      if (eventAt !== undefined) {
        if (eventAt > timeMs) continue;
        this.#eventAt.delete(key);
      }
      const open = this.#table.get(key);
      if (
        verdict.kind === "raise" &&
        (open?.state === verdict.cause || (verdict.cause === "stopped" && open?.state === "crashed"))
      )
        continue;
      this.#apply(s.source, verdict, timeMs, out);
    }
    return out;
  }

  /** Clears the lifecycle alarm of a source that is no longer monitored. */
  forgetSource(source: Source, timeMs: number): AlarmUpdate[] {
    this.#eventAt.delete(keyOf(source));
    const key = sourceKey(source);
    return this.#table.clearWhere(
      (a) => a.kind === "lifecycle" && sourceKey(a.source) === key,
      { specificProblem: "VM no longer monitored" },
      timeMs,
    );
  }

  #apply(source: Source, verdict: LifecycleVerdict, timeMs: number, out: AlarmUpdate[]): void {
    const update =
      verdict.kind === "clear"
        ? this.#table.clear(keyOf(source), { specificProblem: verdict.text }, timeMs)
        : this.#table.set(
            {
              kind: "lifecycle",
              source,
              metric: LIFECYCLE_METRIC,
              severity: verdict.severity,
              condition: verdict.condition,
              specificProblem: verdict.text,
              state: verdict.cause,
            },
            timeMs,
          );
    if (update) out.push(update);
  }
}

function keyOf(source: Source): string {
  return alarmKey("lifecycle", source, LIFECYCLE_METRIC);
}
