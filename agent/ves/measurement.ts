import type { EventSettings } from "../../api/v1alpha1/types.ts";
import type { Sample } from "../collectors/sample.ts";
import { additionalMeasurements, type ExtraFigure } from "./additional.ts";
import { groupSource, SeriesPicker, type SourceWindow, samplesBySource, sourceKey } from "./aggregate.ts";
import { hostCpuUsage, hostLoad, hostMemoryUsage, vmCpuUsage, vmMemoryUsage } from "./fields-cpu-memory.ts";
import { diskUsage, HOST_DISKS, nicPerformance, VM_DISKS } from "./fields-nic-disk.ts";
import {
  eventName,
  type HeaderInput,
  header5,
  header7,
  intervalStartMicros,
  toEpochMicros,
} from "./header.ts";
import type { Event5, Event7, MeasurementFields, VesVersion } from "./types.ts";
import { toVes5Measurement } from "./ves5.ts";

/** One measurement window's worth of input. */
export interface MeasurementInput {
  /** Every sample collected within the window, in collection order (several collections). */
  samples: readonly Sample[];
  /** Window start and end, ms since the epoch. */
  windowStart: number;
  windowEnd: number;
  /**
   * Per source key, the time its figures cover (from the read that opens the window to the one that closes it) and
   * whether they are suspect. A source with coverage is labelled with it; one without gets the window's edges.
   */
  coverage?: ReadonlyMap<string, { start: number; end: number; suspect: boolean }>;
  /** The time a sample's read covers: rates are averaged weighted by it. */
  weightOf?: (s: Sample) => number | undefined;
  /** The measurement interval, seconds. */
  intervalSeconds: number;
  settings: EventSettings;
  /** The node name: the host's sourceName and, unless the naming settings say otherwise, reportingEntityName. */
  node: string;
  version: VesVersion;
  /** The next eventId; called once per event, in the order of the result. */
  nextId: () => string;
}

/** The VES 7.2.1 measurementFields of one source's window. */
export function measurementFields(
  window: SourceWindow,
  node: string,
  intervalSeconds: number,
): MeasurementFields {
  const p = new SeriesPicker(window);
  const vm = window.source.kind === "vm" ? window.source : undefined;
  const extras: ExtraFigure[] = [];
  const fields: MeasurementFields = { measurementFieldsVersion: "4.0", measurementInterval: intervalSeconds };
  const put = <K extends keyof MeasurementFields>(key: K, value: MeasurementFields[K] & unknown[]) => {
    if (value.length) fields[key] = value;
  };
  if (vm) {
    const basis = p.peek("vm.memory.used")?.labels.basis;
    put("cpuUsageArray", vmCpuUsage(p));
    put("memoryUsageArray", vmMemoryUsage(p, vm.name));
    if (basis && !p.rest().some((s) => s.metric === "vm.memory.used"))
      extras.push({ name: "memory", key: "usedBasis", value: basis });
    put(
      "nicPerformanceArray",
      nicPerformance(p, { prefix: "vm.interface", label: "interface" }, intervalSeconds),
    );
    put("diskUsageArray", diskUsage(p, VM_DISKS, intervalSeconds));
  } else {
    put("cpuUsageArray", hostCpuUsage(p));
    put("memoryUsageArray", hostMemoryUsage(p, node));
    put(
      "nicPerformanceArray",
      nicPerformance(p, { prefix: "host.interface", label: "device" }, intervalSeconds),
    );
    put("diskUsageArray", diskUsage(p, HOST_DISKS, intervalSeconds));
    put("loadArray", hostLoad(p));
  }
  put("additionalMeasurements", additionalMeasurements(p.rest(), extras));
  return fields;
}

/** The eventName description of a source: the guest itself in guest mode, else the host or a VM. */
function description(window: SourceWindow, settings: EventSettings): string {
  if (window.source.kind === "vm") return "VmStats";
  return settings.mode === "guest" ? "GuestStats" : "HostStats";
}

/**
 * One measurement event per source (the host, each VM) for one window: rates and percentages averaged over the
 * window's samples, gauges at their last value, accumulated counters at their last value with their increase.
 * With coverage, startEpochMicrosec and lastEpochMicrosec are the span the source's figures cover and a suspect
 * coverage marks every figure suspect; without, they are the window start rounded down to the interval boundary and
 * the window end.
 */
export function buildMeasurementEvents(input: MeasurementInput): (Event7 | Event5)[] {
  const windowStartMicros = intervalStartMicros(input.windowStart, input.intervalSeconds);
  const windowEndMicros = toEpochMicros(input.windowEnd);
  return samplesBySource(input.samples).map((own) => {
    const window = groupSource(own, input.weightOf);
    const covered = input.coverage?.get(sourceKey(window.source));
    if (covered?.suspect) for (const s of window.series) s.suspect = true;
    const startEpochMicrosec = covered ? toEpochMicros(covered.start) : windowStartMicros;
    const lastEpochMicrosec = covered ? toEpochMicros(covered.end) : windowEndMicros;
    const fields = measurementFields(window, input.node, input.intervalSeconds);
    const head: HeaderInput = {
      domain: "measurement",
      eventId: input.nextId(),
      eventName: eventName(
        "Measurement",
        input.settings.naming.eventNamePublisher,
        description(window, input.settings),
      ),
      source: window.source,
      node: input.node,
      settings: input.settings,
      startEpochMicrosec,
      lastEpochMicrosec,
      sequence: 0,
      priority: "Normal",
    };
    if (input.version === "7.2.1") return { commonEventHeader: header7(head), measurementFields: fields };
    return { commonEventHeader: header5(head), measurementsForVfScalingFields: toVes5Measurement(fields) };
  });
}
