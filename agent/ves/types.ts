/**
 * The parts of the VES Common Event Format this agent builds: VES 7.2.1 (schema 30.2.1) and the legacy VES 5.4.1
 * (schema 28.4.1). Field names and value types follow the schemas in `schemas/` exactly.
 */

/** The VES event listener versions the agent can speak. */
export type VesVersion = "7.2.1" | "5.4.1";

/** A VES 7 hashMap: string keys to string values (the schema rejects numbers). */
export type HashMap = Record<string, string>;

/** A VES 7 namedHashMap (an `additionalMeasurements` entry). */
export interface NamedHashMap {
  name: string;
  hashMap: HashMap;
}

/** VES 7.2.1 commonEventHeader. */
export interface CommonEventHeader {
  domain: "measurement" | "heartbeat" | "fault";
  eventId: string;
  eventName: string;
  eventType?: string;
  lastEpochMicrosec: number;
  nfcNamingCode?: string;
  nfNamingCode?: string;
  nfVendorName?: string;
  priority: Priority;
  reportingEntityName: string;
  sequence: number;
  sourceId?: string;
  sourceName: string;
  startEpochMicrosec: number;
  timeZoneOffset?: string;
  version: "4.1";
  vesEventListenerVersion: "7.2.1";
}

/** commonEventHeader.priority. */
export type Priority = "High" | "Medium" | "Normal" | "Low";

/** cpuUsage (both versions; VES 5 knows only the fields up to cpuWait). */
export interface CpuUsage {
  cpuIdentifier: string;
  percentUsage: number;
  cpuIdle?: number;
  cpuUsageInterrupt?: number;
  cpuUsageNice?: number;
  cpuUsageSoftIrq?: number;
  cpuUsageSteal?: number;
  cpuUsageSystem?: number;
  cpuUsageUser?: number;
  cpuWait?: number;
}

/** memoryUsage, in KiB (both versions; VES 5 has no percentMemoryUsage). */
export interface MemoryUsage {
  vmIdentifier: string;
  memoryFree: number;
  memoryUsed: number;
  memoryBuffered?: number;
  memoryCached?: number;
  memoryConfigured?: number;
  percentMemoryUsage?: number;
}

/** The counter fields of a nicPerformance entry that this agent fills. */
export type NicCounterField =
  | "receivedOctetsAccumulated"
  | "receivedOctetsDelta"
  | "receivedTotalPacketsAccumulated"
  | "receivedTotalPacketsDelta"
  | "receivedErrorPacketsAccumulated"
  | "receivedErrorPacketsDelta"
  | "receivedDiscardedPacketsAccumulated"
  | "receivedDiscardedPacketsDelta"
  | "transmittedOctetsAccumulated"
  | "transmittedOctetsDelta"
  | "transmittedTotalPacketsAccumulated"
  | "transmittedTotalPacketsDelta"
  | "transmittedErrorPacketsAccumulated"
  | "transmittedErrorPacketsDelta"
  | "transmittedDiscardedPacketsAccumulated"
  | "transmittedDiscardedPacketsDelta";

/** VES 7 nicPerformance. `valuesAreSuspect` is a string in the schema, not a boolean. */
export type NicPerformance = { nicIdentifier: string; valuesAreSuspect: "true" | "false" } & Partial<
  Record<NicCounterField, number>
>;

/** The diskUsage figures this agent fills (ops/s, octets/s, ms per op, ms busy per s), each as Min/Max/Avg/Last. */
export type DiskFigure =
  | "diskOpsRead"
  | "diskOpsWrite"
  | "diskOctetsRead"
  | "diskOctetsWrite"
  | "diskTimeRead"
  | "diskTimeWrite"
  | "diskIoTime";

/** diskUsage. `diskFlushRequests` is VES 7 only. */
export type DiskUsage = { diskIdentifier: string; diskFlushRequests?: number } & Partial<
  Record<`${DiskFigure}${"Min" | "Max" | "Avg" | "Last"}`, number>
>;

/** load (VES 7 only): the 1, 5 and 15 minute load averages. */
export interface Load {
  shortTerm?: number;
  midTerm?: number;
  longTerm?: number;
}

/** VES 7.2.1 measurementFields. Empty arrays are omitted. */
export interface MeasurementFields {
  measurementFieldsVersion: "4.0";
  measurementInterval: number;
  cpuUsageArray?: CpuUsage[];
  memoryUsageArray?: MemoryUsage[];
  nicPerformanceArray?: NicPerformance[];
  diskUsageArray?: DiskUsage[];
  loadArray?: Load[];
  additionalMeasurements?: NamedHashMap[];
}

/** VES 7.2.1 heartbeatFields. */
export interface HeartbeatFields {
  heartbeatFieldsVersion: "3.0";
  heartbeatInterval: number;
}

/** Fault severities; NORMAL clears. */
export type Severity = "CRITICAL" | "MAJOR" | "MINOR" | "WARNING" | "NORMAL";

/** VES 7.2.1 faultFields. */
export interface FaultFields {
  faultFieldsVersion: "4.0";
  alarmCondition: string;
  eventSeverity: Severity;
  eventSourceType: string;
  specificProblem: string;
  vfStatus: "Active" | "Idle";
  alarmInterfaceA?: string;
  eventCategory?: string;
  alarmAdditionalInformation?: HashMap;
}

/** A VES 7.2.1 event, one of the domains built here. */
export interface Event7 {
  commonEventHeader: CommonEventHeader;
  measurementFields?: MeasurementFields;
  heartbeatFields?: HeartbeatFields;
  faultFields?: FaultFields;
}

/** A VES 5 `field` (name/value pair; the value is a string). */
export interface Field5 {
  name: string;
  value: string;
}

/** VES 5.4.1 commonEventHeader: `version` is a number, no vesEventListenerVersion, nfVendorName or timeZoneOffset. */
export interface CommonEventHeader5 {
  domain: "measurementsForVfScaling" | "heartbeat" | "fault";
  eventId: string;
  eventName: string;
  eventType?: string;
  lastEpochMicrosec: number;
  nfcNamingCode?: string;
  nfNamingCode?: string;
  priority: Priority;
  reportingEntityName: string;
  sequence: number;
  sourceId?: string;
  sourceName: string;
  startEpochMicrosec: number;
  version: 3;
}

/** VES 5 vNicPerformance: the VES 7 counters under the old identifier name. */
export type VNicPerformance5 = { vNicIdentifier: string; valuesAreSuspect: "true" | "false" } & Partial<
  Record<NicCounterField, number>
>;

/** VES 5.4.1 measurementsForVfScalingFields. */
export interface MeasurementsForVfScalingFields5 {
  measurementsForVfScalingVersion: number;
  measurementInterval: number;
  cpuUsageArray?: CpuUsage[];
  memoryUsageArray?: MemoryUsage[];
  vNicPerformanceArray?: VNicPerformance5[];
  diskUsageArray?: DiskUsage[];
  additionalMeasurements?: { name: string; arrayOfFields: Field5[] }[];
}

/** A VES 5.4.1 event, one of the domains built here. */
export interface Event5 {
  commonEventHeader: CommonEventHeader5;
  measurementsForVfScalingFields?: MeasurementsForVfScalingFields5;
  heartbeatFields?: { heartbeatFieldsVersion: number; heartbeatInterval: number };
  faultFields?: Omit<FaultFields, "faultFieldsVersion" | "alarmAdditionalInformation"> & {
    faultFieldsVersion: number;
    alarmAdditionalInformation?: Field5[];
  };
}

/** Any event built here. */
export type VesEvent = Event7 | Event5;
