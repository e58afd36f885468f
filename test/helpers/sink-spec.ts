import type { VesSink } from "../../api/v1alpha1/types.ts";

/** A VES sink spec for tests: short timeout and backoff, roomy buffer. Imports nothing, for fast children. */
export const sinkSpec = (url: string, over: Partial<VesSink> = {}): VesSink => ({
  url,
  fallbackInterval: "5m",
  timeout: "1s",
  batch: { maxEvents: 10, maxBytes: "1Mi" },
  buffer: { maxBytes: "64Mi", maxAge: "1h" },
  retry: { initialBackoff: "20ms", maxBackoff: "200ms" },
  ...over,
});
