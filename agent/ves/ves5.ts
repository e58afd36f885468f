import { formatValue } from "./additional.ts";
import type {
  Field5,
  HashMap,
  MeasurementFields,
  MeasurementsForVfScalingFields5,
  NamedHashMap,
} from "./types.ts";

/** measurementsForVfScalingVersion of VES 5.4.1 (a number in schema 28.4.1). */
export const VES5_MEASUREMENT_VERSION = 2.1;

/** A VES 7 hashMap as a VES 5 array of `{name, value}` fields. */
export function toFields(map: HashMap): Field5[] {
  return Object.entries(map).map(([name, value]) => ({ name, value }));
}

/**
 * The VES 5.4.1 form of VES 7 measurementFields: vNicPerformanceArray with vNicIdentifier, additionalMeasurements as
 * named arrays of fields, and the fields schema 28.4.1 does not have moved to additionalMeasurements (loadArray,
 * percentMemoryUsage, diskFlushRequests), since the 28.4.1 objects are open and a collector would drop them unread.
 */
export function toVes5Measurement(f: MeasurementFields): MeasurementsForVfScalingFields5 {
  const out: MeasurementsForVfScalingFields5 = {
    measurementsForVfScalingVersion: VES5_MEASUREMENT_VERSION,
    measurementInterval: f.measurementInterval,
  };
  const additional: NamedHashMap[] = [...(f.additionalMeasurements ?? [])];
  if (f.cpuUsageArray) out.cpuUsageArray = f.cpuUsageArray;
  if (f.memoryUsageArray)
    out.memoryUsageArray = f.memoryUsageArray.map(({ percentMemoryUsage, ...m }) => {
      if (percentMemoryUsage !== undefined)
        additional.push({
          name: "memory",
          hashMap: { vmIdentifier: m.vmIdentifier, percentMemoryUsage: formatValue(percentMemoryUsage) },
        });
      return m;
    });
  if (f.nicPerformanceArray)
    out.vNicPerformanceArray = f.nicPerformanceArray.map(({ nicIdentifier, ...n }) => ({
      vNicIdentifier: nicIdentifier,
      ...n,
    }));
  if (f.diskUsageArray)
    out.diskUsageArray = f.diskUsageArray.map(({ diskFlushRequests, ...d }) => {
      if (diskFlushRequests !== undefined)
        additional.push({
          name: "disk",
          hashMap: { disk: d.diskIdentifier, flushRequests: String(diskFlushRequests) },
        });
      return d;
    });
  for (const load of f.loadArray ?? [])
    additional.push({
      name: "load",
      hashMap: Object.fromEntries(Object.entries(load).map(([k, v]) => [k, formatValue(v)])),
    });
  if (additional.length)
    out.additionalMeasurements = additional.map((m) => ({
      name: m.name,
      arrayOfFields: toFields(m.hashMap),
    }));
  return out;
}
