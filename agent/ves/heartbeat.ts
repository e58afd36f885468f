import type { EventSettings } from "../../api/v1alpha1/types.ts";
import { HOST } from "../collectors/sample.ts";
import {
  eventName,
  type HeaderInput,
  header5,
  header7,
  intervalStartMicros,
  toEpochMicros,
} from "./header.ts";
import type { Event5, Event7, VesVersion } from "./types.ts";

/** heartbeatFieldsVersion of VES 5.4.1 (a number in schema 28.4.1). */
export const VES5_HEARTBEAT_VERSION = 1.0;

/** What a heartbeat needs. */
export interface HeartbeatInput {
  /** When it is sent, ms since the epoch. */
  time: number;
  /** The heartbeat interval, whole seconds (the schema wants an integer). */
  intervalSeconds: number;
  settings: EventSettings;
  /** The node name: sourceName (the agent beats for its node) and the default reportingEntityName. */
  node: string;
  version: VesVersion;
  eventId: string;
}

/**
 * A heartbeat for the node's agent: `Heartbeat_{publisher}_Agent`, priority Normal, sequence 0, startEpochMicrosec
 * rounded down to the heartbeat interval boundary and lastEpochMicrosec the send time.
 */
export function buildHeartbeat(input: HeartbeatInput): Event7 | Event5 {
  if (!Number.isInteger(input.intervalSeconds) || input.intervalSeconds <= 0)
    throw new RangeError(
      `heartbeat interval must be a positive whole number of seconds, got ${input.intervalSeconds}`,
    );
  const head: HeaderInput = {
    domain: "heartbeat",
    eventId: input.eventId,
    eventName: eventName("Heartbeat", input.settings.naming.eventNamePublisher, "Agent"),
    source: HOST,
    node: input.node,
    settings: input.settings,
    startEpochMicrosec: intervalStartMicros(input.time, input.intervalSeconds),
    lastEpochMicrosec: toEpochMicros(input.time),
    sequence: 0,
    priority: "Normal",
  };
  if (input.version === "7.2.1")
    return {
      commonEventHeader: header7(head),
      heartbeatFields: { heartbeatFieldsVersion: "3.0", heartbeatInterval: input.intervalSeconds },
    };
  return {
    commonEventHeader: header5(head),
    heartbeatFields: {
      heartbeatFieldsVersion: VES5_HEARTBEAT_VERSION,
      heartbeatInterval: input.intervalSeconds,
    },
  };
}
