import { createHash } from "node:crypto";
import { parseDuration } from "../../api/duration.ts";
import type { CollectorName } from "../../api/v1alpha1/collectors.ts";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";

/** A collector with its settings and interval: what the scheduler runs. Its id is a stable hash of both. */
export interface JobSpec {
  id: string;
  collector: CollectorName;
  spec: CollectorSpec;
  intervalMs: number;
}

/** JSON with object keys sorted, so equal settings hash equally whatever order they were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

/**
 * The job for one collector entry: id `<collector>-<12 hex>` from its settings and interval. With the profile's
 * `events`, settings that default to them are filled in first (the virt collector's `slowGroupsInterval` follows
 * `measurementInterval`), so profiles with different windows do not share a job that reads at one's edges.
 */
export function jobFor(entry: CollectorSpec, events?: { measurementInterval: string }): JobSpec {
  const spec =
    entry.name === "virt" && entry.slowGroupsInterval === undefined && events
      ? { ...entry, slowGroupsInterval: events.measurementInterval }
      : entry;
  const hash = createHash("sha256").update(canonical(spec)).digest("hex").slice(0, 12);
  return { id: `${spec.name}-${hash}`, collector: spec.name, spec, intervalMs: parseDuration(spec.interval) };
}
