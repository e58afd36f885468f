import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import type { Collector, CollectorEnv, CollectorFactory } from "./collector.ts";
import { readSource } from "./read.ts";
import { HOST, type Sample } from "./sample.ts";

/** The figures of /proc/loadavg. */
export interface LoadAvg {
  shortterm: number;
  midterm: number;
  longterm: number;
  running: number;
  total: number;
}

/** Parses /proc/loadavg (`0.79 0.65 0.27 1/105 10287`). Throws naming the problem when the line is malformed. */
export function parseLoadavg(text: string): LoadAvg {
  const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\/(\d+)/.exec(text);
  const values = m?.slice(1, 6).map(Number);
  if (!values || values.some((v) => !Number.isFinite(v)))
    throw new Error(`unexpected /proc/loadavg content: ${JSON.stringify(text.slice(0, 80))}`);
  const [shortterm, midterm, longterm, running, total] = values as [number, number, number, number, number];
  return { shortterm, midterm, longterm, running, total };
}

class LoadCollector implements Collector {
  readonly name = "load" as const;
  readonly #env: CollectorEnv;

  constructor(env: CollectorEnv) {
    this.#env = env;
  }

  async collect() {
    const time = this.#env.now();
    const load = parseLoadavg(await readSource(this.#env.paths.proc("loadavg")));
    const samples: Sample[] = [
      { metric: "host.load.shortterm", value: load.shortterm, unit: "load", source: HOST },
      { metric: "host.load.midterm", value: load.midterm, unit: "load", source: HOST },
      { metric: "host.load.longterm", value: load.longterm, unit: "load", source: HOST },
      { metric: "host.load.running", value: load.running, unit: "count", source: HOST },
      { metric: "host.load.threads", value: load.total, unit: "count", source: HOST },
    ];
    return { time, samples, errors: [] };
  }

  async close() {}
}

/** `load`: /proc/loadavg (VES loadArray). */
export const loadCollector: CollectorFactory = {
  name: "load",
  async create(_spec: CollectorSpec, env: CollectorEnv) {
    return new LoadCollector(env);
  },
};
