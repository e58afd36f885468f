import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import type { Collector, CollectorEnv, CollectorFactory } from "./collector.ts";
import { CounterSet } from "./counter.ts";
import { nameFilter } from "./filter.ts";
import { readSource } from "./read.ts";
import { HOST, type Sample, type Unit } from "./sample.ts";

/** Interfaces the interface collector leaves out unless `devices` says otherwise. */
export const INTERFACE_DEFAULT_EXCLUDE = ["lo"] as const;

/** The counters of one /proc/net/dev line, in the kernel's column order. */
export const NET_DEV_FIELDS = [
  "rxBytes",
  "rxPackets",
  "rxErrors",
  "rxDropped",
  "rxFifo",
  "rxFrame",
  "rxCompressed",
  "rxMulticast",
  "txBytes",
  "txPackets",
  "txErrors",
  "txDropped",
  "txFifo",
  "txCollisions",
  "txCarrier",
  "txCompressed",
] as const;

/** One interface's counters. */
export type NetDevStats = Record<(typeof NET_DEV_FIELDS)[number], bigint>;

/** The interface lines of /proc/net/dev. */
export interface NetDev {
  interfaces: Map<string, NetDevStats>;
  /** Lines that could not be read, as found. */
  skipped: string[];
}

/**
 * Parses /proc/net/dev. The name ends at the first ':' (Linux refuses ':' in interface names), which may
 * touch the first counter when that is wide (`eth0:653496154 …`). The two header lines are recognised by
 * their '|'. A malformed line is skipped and returned in `skipped`; throws when there are lines but none
 * can be read.
 */
export function parseNetDev(text: string): NetDev {
  const interfaces = new Map<string, NetDevStats>();
  const skipped: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.includes("|")) continue;
    const colon = line.indexOf(":");
    const name = line.slice(0, Math.max(colon, 0)).trim();
    const numbers = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (
      colon < 0 ||
      name === "" ||
      /\s/.test(name) ||
      numbers.length < NET_DEV_FIELDS.length ||
      !numbers.every((n) => /^\d+$/.test(n))
    ) {
      skipped.push(line);
      continue;
    }
    const stats = {} as NetDevStats;
    NET_DEV_FIELDS.forEach((field, i) => {
      stats[field] = BigInt(numbers[i]!);
    });
    interfaces.set(name, stats);
  }
  if (interfaces.size === 0 && skipped.length > 0)
    throw new Error(`unexpected /proc/net/dev content: ${JSON.stringify(text.slice(0, 80))}`);
  return { interfaces, skipped };
}

/** What is reported per interface: the counter, its metric, and the units of its rate and of its total. */
const REPORTED: readonly (readonly [keyof NetDevStats, string, Unit, Unit])[] = [
  ["rxBytes", "host.interface.rx.bytes", "bytes/s", "bytes"],
  ["txBytes", "host.interface.tx.bytes", "bytes/s", "bytes"],
  ["rxPackets", "host.interface.rx.packets", "packets/s", "packets"],
  ["txPackets", "host.interface.tx.packets", "packets/s", "packets"],
  ["rxErrors", "host.interface.rx.errors", "count/s", "count"],
  ["txErrors", "host.interface.tx.errors", "count/s", "count"],
  ["rxDropped", "host.interface.rx.dropped", "count/s", "count"],
  ["txDropped", "host.interface.tx.dropped", "count/s", "count"],
];

class InterfaceCollector implements Collector {
  readonly name = "interface" as const;
  readonly #env: CollectorEnv;
  readonly #include: (device: string) => boolean;
  readonly #counters = new CounterSet();
  /** Each counter's value at the previous read, to tell when an accumulated total went backwards. */
  #previous = new Map<string, bigint>();

  constructor(spec: CollectorSpec, env: CollectorEnv) {
    this.#env = env;
    this.#include = nameFilter(spec.devices, INTERFACE_DEFAULT_EXCLUDE);
  }

  async collect() {
    const time = this.#env.now();
    const path = this.#env.paths.proc("net/dev");
    const { interfaces, skipped } = parseNetDev(await readSource(path));
    const samples: Sample[] = [];
    const current = new Map<string, bigint>();
    for (const [device, stats] of interfaces) {
      if (!this.#include(device)) continue;
      const labels = { device };
      for (const [field, metric, rateUnit, totalUnit] of REPORTED) {
        const key = `${device} ${field}`;
        const value = stats[field];
        current.set(key, value);
        const rate = this.#counters.rate(key, value, time);
        if (rate.perSecond !== undefined)
          samples.push({
            metric,
            value: rate.perSecond,
            unit: rateUnit,
            source: HOST,
            labels,
            ...(rate.suspect ? { suspect: true } : {}),
          });
        const previous = this.#previous.get(key);
        // A total below the previous one (driver reset or wrap) breaks the series a consumer accumulates.
        const wentBack = previous !== undefined && value < previous;
        samples.push({
          metric: `${metric}.total`,
          value: Number(value),
          unit: totalUnit,
          source: HOST,
          labels,
          ...(wentBack ? { suspect: true } : {}),
        });
      }
    }
    this.#counters.sweep();
    this.#previous = current;
    const errors = skipped.map((l) => `${path}: skipped malformed line ${JSON.stringify(l.slice(0, 80))}`);
    return { time, samples, errors };
  }

  async close() {}
}

/** `interface`: /proc/net/dev rates and totals per network interface (VES nicPerformanceArray). */
export const interfaceCollector: CollectorFactory = {
  name: "interface",
  async create(spec: CollectorSpec, env: CollectorEnv) {
    return new InterfaceCollector(spec, env);
  },
};
