import { cp, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CollectorName } from "../../api/v1alpha1/collectors.ts";
import { METRICS, METRICS_BY_NAME } from "../../api/v1alpha1/metrics.ts";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import type { CollectorEnv } from "./collector.ts";
import { CounterSet } from "./counter.ts";
import { createCollectorRegistry } from "./index.ts";
import type { Sample } from "./sample.ts";
import { sampleDomain } from "./virt.ts";
import type { DomainStats } from "./virt-stats.ts";

const registry = createCollectorRegistry();

async function twoReads(name: CollectorName, env: CollectorEnv, clock?: { now: number }): Promise<Sample[]> {
  const collector = await registry.get(name)!.create({ name, interval: "10s" }, env);
  try {
    await collector.collect();
    if (clock) clock.now += 10_000;
    else await new Promise((r) => setTimeout(r, 300));
    return (await collector.collect()).samples;
  } finally {
    await collector.close();
  }
}

const fullDomain = (n: bigint): DomainStats => ({
  name: "vm",
  uuid: "00000000-0000-0000-0000-0000000000aa",
  id: 1,
  state: "running",
  vcpuCurrent: 1,
  cpu: { time: n, user: n, system: n },
  balloon: { current: 1024n, maximum: 2048n, available: 2000n, usable: 1000n, unused: 900n, rss: 800n },
  vcpus: [{ index: 0, time: n, delay: n }],
  nics: [
    {
      index: 0,
      name: "vnet0",
      rx: { bytes: n, pkts: n, errs: n, drop: n },
      tx: { bytes: n, pkts: n, errs: n, drop: n },
    },
  ],
  disks: [
    {
      index: 0,
      name: "vda",
      rd: { reqs: n, bytes: n, times: n },
      wr: { reqs: n, bytes: n, times: n },
      fl: { reqs: n, times: n },
      allocation: n,
      capacity: n,
      physical: n,
    },
  ],
});

describe("metric catalogue", () => {
  it("lists each name once", () => {
    expect(METRICS_BY_NAME.size).toBe(METRICS.length);
  });

  it("matches what the collectors emit: names, units, collectors and labels", async () => {
    const clock = { now: 1_000_000 };
    const emitted: [CollectorName, Sample][] = [];
    for (const name of ["cpu", "memory", "load", "disk", "interface"] as const)
      for (const s of await twoReads(name, testEnv({ root: "/" }))) emitted.push([name, s]);
    const cgroupRoot = await mkdtemp(join(tmpdir(), "vesmon-cgroup-"));
    await cp(join(FIXTURE_ROOT, "cgroup-v2-systemd"), cgroupRoot, { recursive: true });
    for (const s of await twoReads("cgroups", testEnv({ cgroup: cgroupRoot }, clock), clock))
      emitted.push(["cgroups", s]);
    const counters = new CounterSet();
    sampleDomain(fullDomain(1000n), counters, 0);
    for (const s of sampleDomain(fullDomain(5000n), counters, 10_000)) emitted.push(["virt", s]);

    for (const [collector, s] of emitted) {
      const info = METRICS_BY_NAME.get(s.metric);
      expect(info, `${s.metric} is not in the catalogue`).toBeDefined();
      expect([info?.collector, info?.unit], s.metric).toEqual([collector, s.unit]);
      for (const label of Object.keys(s.labels ?? {}))
        if (!info?.labels.includes("*")) expect(info?.labels, `${s.metric} label ${label}`).toContain(label);
    }
    // vm.info needs a domain XML with <metadata>: the libvirt integration test covers it.
    const needsMore = new Set(["vm.info"]);
    const seen = new Set(emitted.map(([, s]) => s.metric));
    const missing = METRICS.filter((m) => !seen.has(m.name) && !needsMore.has(m.name)).map((m) => m.name);
    expect(missing).toEqual([]);
    expect(
      [...needsMore].filter((n) => seen.has(n)),
      "exempt but produced: drop them from needsMore",
    ).toEqual([]);
  });
});
