// prom-client's metric classes that the agent uses, each required from its own file with the package's own
// types. Why not `import ... from "prom-client"`: its index also loads the Pushgateway (node:https, tls), the
// default metrics (perf_hooks, v8) and the cluster aggregator (node:cluster), about 11 MiB of RSS the agent
// never uses (docs/benchmarks.md, "Where the agent's memory goes").
import { createRequire } from "node:module";
import type * as PromClient from "prom-client";

const require = createRequire(import.meta.url);

/** prom-client's `Registry` (lib/registry.js). */
export const Registry: typeof PromClient.Registry = require("prom-client/lib/registry");
/** prom-client's `Counter` (lib/counter.js). */
export const Counter: typeof PromClient.Counter = require("prom-client/lib/counter");
/** prom-client's `Gauge` (lib/gauge.js). */
export const Gauge: typeof PromClient.Gauge = require("prom-client/lib/gauge");
/** prom-client's `Histogram` (lib/histogram.js). */
export const Histogram: typeof PromClient.Histogram = require("prom-client/lib/histogram");

/** An instance of {@link Registry}. */
export type Registry = PromClient.Registry;
/** An instance of {@link Counter}. */
export type Counter<T extends string = string> = PromClient.Counter<T>;
/** An instance of {@link Gauge}. */
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
/** An instance of {@link Histogram}. */
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
