import type { EventSettings } from "../../api/v1alpha1/types.ts";
import type { Source } from "../collectors/sample.ts";
import type { CommonEventHeader, CommonEventHeader5, Priority } from "./types.ts";

/** Milliseconds since the epoch as integer microseconds. */
export function toEpochMicros(ms: number): number {
  return Math.round(ms * 1000);
}

/**
 * The start of the interval `ms` falls in, in integer microseconds: VES rounds measurement and heartbeat
 * `startEpochMicrosec` to the interval boundary (3:00, 3:10, …). Rounding down keeps the start inside the window.
 */
export function intervalStartMicros(ms: number, intervalSeconds: number): number {
  if (!(intervalSeconds > 0)) throw new RangeError(`interval must be positive, got ${intervalSeconds}`);
  const us = Math.floor(ms * 1000);
  const step = Math.round(intervalSeconds * 1_000_000);
  return us - (((us % step) + step) % step);
}

/** CamelCases a description for an eventName subfield: no spaces, underscores or hyphens (`vm crashed` → `VmCrashed`). */
export function camelSubfield(text: string): string {
  const words = text.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("") || "Event";
}

/** `{DomainAbbreviation}_{PublisherName}_{Description}`, the VES eventName convention. */
export function eventName(
  domain: "Measurement" | "Heartbeat" | "Fault",
  publisher: string,
  description: string,
): string {
  return `${domain}_${publisher}_${camelSubfield(description)}`;
}

/** What every header needs, whatever the domain and version. */
export interface HeaderInput {
  domain: "measurement" | "heartbeat" | "fault";
  eventId: string;
  eventName: string;
  /** The source the event is about; the host is reported under the node name. */
  source: Source;
  node: string;
  settings: EventSettings;
  startEpochMicrosec: number;
  lastEpochMicrosec: number;
  sequence: number;
  priority: Priority;
}

/** The name and id of the source in the header: a VM by domain name and UUID, the host (or the guest itself) by node. */
function sourceFields(source: Source, node: string): { sourceName: string; sourceId?: string } {
  return source.kind === "vm" ? { sourceName: source.name, sourceId: source.uuid } : { sourceName: node };
}

function naming(settings: EventSettings): { nfNamingCode?: string; nfcNamingCode?: string } {
  const { nfNamingCode, nfcNamingCode } = settings.naming;
  return { ...(nfNamingCode ? { nfNamingCode } : {}), ...(nfcNamingCode ? { nfcNamingCode } : {}) };
}

/** The VES 7.2.1 commonEventHeader. */
export function header7(input: HeaderInput): CommonEventHeader {
  const { settings } = input;
  return {
    domain: input.domain,
    eventId: input.eventId,
    eventName: input.eventName,
    eventType: settings.mode === "guest" ? "guestOS" : "hostOS",
    lastEpochMicrosec: input.lastEpochMicrosec,
    ...naming(settings),
    ...(settings.naming.nfVendorName ? { nfVendorName: settings.naming.nfVendorName } : {}),
    priority: input.priority,
    reportingEntityName: settings.naming.reportingEntityName ?? input.node,
    sequence: input.sequence,
    ...sourceFields(input.source, input.node),
    startEpochMicrosec: input.startEpochMicrosec,
    // Epoch microseconds are UTC, and the agent reports no local time.
    timeZoneOffset: "UTC+00:00",
    version: "4.1",
    vesEventListenerVersion: "7.2.1",
  };
}

/** The VES 5.4.1 commonEventHeader (version 3.0; no vesEventListenerVersion, nfVendorName or timeZoneOffset there). */
export function header5(input: HeaderInput): CommonEventHeader5 {
  const { settings } = input;
  return {
    domain: input.domain === "measurement" ? "measurementsForVfScaling" : input.domain,
    eventId: input.eventId,
    eventName: input.eventName,
    eventType: settings.mode === "guest" ? "guestOS" : "hostOS",
    lastEpochMicrosec: input.lastEpochMicrosec,
    ...naming(settings),
    priority: input.priority,
    reportingEntityName: settings.naming.reportingEntityName ?? input.node,
    sequence: input.sequence,
    ...sourceFields(input.source, input.node),
    startEpochMicrosec: input.startEpochMicrosec,
    version: 3,
  };
}
