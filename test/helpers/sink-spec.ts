import type { VesSink } from "../../api/v1alpha1/types.ts";

/**
 * A VES sink spec for tests: short backoff, roomy buffer, and a timeout long enough for a busy machine (a
 * listener's first answer includes compiling the schema; a request that times out but arrived is sent again,
 * which exactly-once checks would see). Imports nothing, for fast children.
 */
export const sinkSpec = (url: string, over: Partial<VesSink> = {}): VesSink => ({
  url,
  fallbackInterval: "5m",
  timeout: "10s",
  batch: { maxEvents: 10, maxBytes: "1Mi" },
  buffer: { maxBytes: "64Mi", maxAge: "1h" },
  retry: { initialBackoff: "20ms", maxBackoff: "200ms" },
  ...over,
});
