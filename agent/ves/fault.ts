import type { EventSettings } from "../../api/v1alpha1/types.ts";
import type { Source } from "../collectors/sample.ts";
import { eventName, type HeaderInput, header5, header7, toEpochMicros } from "./header.ts";
import type { Event5, Event7, FaultFields, Priority, Severity, VesVersion } from "./types.ts";
import { toFields } from "./ves5.ts";

/** faultFieldsVersion of VES 5.4.1 (a number in schema 28.4.1). */
export const VES5_FAULT_VERSION = 2.0;

/** One alarm's state as the caller keeps it: the id and onset stay from raise to clear, the sequence grows. */
export interface Alarm {
  /** Stable from raise to clear (a new one after a clear). */
  eventId: string;
  /** Onset of the alarm, µs since the epoch; stable from raise to clear. */
  startEpochMicrosec: number;
  /** 1 on raise, then one more for each re-send until and including the clear. */
  sequence: number;
  /** Short name without whitespace, e.g. `vmCrashed`, `cpuUsageHigh`. */
  condition: string;
  /** Description; the 3GPP probable cause if there is one. */
  specificProblem: string;
  /** NORMAL clears. */
  severity: Severity;
  source: Source;
  /** The card, port or interface concerned. */
  alarmInterfaceA?: string;
  /** e.g. `link`, `routing`. */
  eventCategory?: string;
  /** Extra facts (value, threshold, metric), as strings. */
  additional?: Readonly<Record<string, string>>;
}

/** What a fault event needs. */
export interface FaultInput {
  alarm: Alarm;
  /** When this event is sent, ms since the epoch (lastEpochMicrosec). */
  time: number;
  settings: EventSettings;
  node: string;
  version: VesVersion;
  /** The VNF's status. Defaults to Active. */
  vfStatus?: "Active" | "Idle";
}

/** Priority by severity: a critical alarm goes first, a clear is ordinary. */
export const SEVERITY_PRIORITY: Readonly<Record<Severity, Priority>> = {
  CRITICAL: "High",
  MAJOR: "Medium",
  MINOR: "Low",
  WARNING: "Low",
  NORMAL: "Normal",
};

/**
 * A fault event, `Fault_{publisher}_{Condition}`. eventSourceType is `virtualMachine` for a VM (and for the guest
 * itself in guest mode), `host` otherwise. Pure: the stable eventId, onset and sequence come from the caller.
 */
export function buildFaultEvent(input: FaultInput): Event7 | Event5 {
  const { alarm, settings } = input;
  if (/\s/.test(alarm.condition))
    throw new RangeError(`alarm condition must have no whitespace: ${alarm.condition}`);
  if (!Number.isInteger(alarm.sequence) || alarm.sequence < 0)
    throw new RangeError(`alarm sequence must be a non-negative integer, got ${alarm.sequence}`);
  const head: HeaderInput = {
    domain: "fault",
    eventId: alarm.eventId,
    eventName: eventName("Fault", settings.naming.eventNamePublisher, alarm.condition),
    source: alarm.source,
    node: input.node,
    settings,
    startEpochMicrosec: alarm.startEpochMicrosec,
    lastEpochMicrosec: Math.max(toEpochMicros(input.time), alarm.startEpochMicrosec),
    sequence: alarm.sequence,
    priority: SEVERITY_PRIORITY[alarm.severity],
  };
  const common = {
    alarmCondition: alarm.condition,
    eventSeverity: alarm.severity,
    eventSourceType: alarm.source.kind === "vm" || settings.mode === "guest" ? "virtualMachine" : "host",
    specificProblem: alarm.specificProblem,
    vfStatus: input.vfStatus ?? "Active",
    ...(alarm.alarmInterfaceA ? { alarmInterfaceA: alarm.alarmInterfaceA } : {}),
    ...(alarm.eventCategory ? { eventCategory: alarm.eventCategory } : {}),
  } satisfies Omit<FaultFields, "faultFieldsVersion">;
  const extra = alarm.additional && Object.keys(alarm.additional).length ? alarm.additional : undefined;
  if (input.version === "7.2.1")
    return {
      commonEventHeader: header7(head),
      faultFields: {
        faultFieldsVersion: "4.0",
        ...common,
        ...(extra ? { alarmAdditionalInformation: { ...extra } } : {}),
      },
    };
  return {
    commonEventHeader: header5(head),
    faultFields: {
      faultFieldsVersion: VES5_FAULT_VERSION,
      ...common,
      ...(extra ? { alarmAdditionalInformation: toFields(extra) } : {}),
    },
  };
}
