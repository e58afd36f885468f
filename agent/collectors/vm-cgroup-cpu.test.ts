import { cp, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import { cgroupsCollector } from "./cgroups.ts";
import { CounterSet } from "./counter.ts";
import { sampleDomain } from "./virt.ts";
import type { DomainStats } from "./virt-stats.ts";
import { cgroupOfDomain, cpuTrees, readVmCgroupCpu } from "./vm-cgroup-cpu.ts";

const at = (name: string) => join(FIXTURE_ROOT, name);
const summary = (vms: Awaited<ReturnType<typeof readVmCgroupCpu>>["vms"]) =>
  vms.map((v) => ({
    id: v.id,
    name: v.name,
    hierarchy: v.hierarchy,
    totalNs: v.totalNs,
    vcpuNs: Object.fromEntries(v.vcpuNs),
  }));

describe("VM CPU time from cgroups", () => {
  it("picks the trees that can count it: v2 root; v1 cpuacct, then a hybrid host's unified tree", () => {
    expect(cpuTrees(["cgroup.controllers", "machine.slice"])).toEqual([{ hierarchy: "v2", dir: "" }]);
    expect(cpuTrees(["cpu", "cpuacct", "memory", "unified"])).toEqual([
      { hierarchy: "cpuacct", dir: "cpuacct" },
      { hierarchy: "unified", dir: "unified" },
    ]);
    expect(cpuTrees(["cpu,cpuacct", "memory"])).toEqual([{ hierarchy: "cpuacct", dir: "cpu,cpuacct" }]);
  });

  it("reads v1 cpuacct (ns), per vCPU from vcpuN, in a custom partition too", async () => {
    const { vms, errors } = await readVmCgroupCpu(at("cgroup-v1-nonsystemd"));
    expect(errors).toEqual([]);
    expect(summary(vms)).toEqual([
      { id: "1", name: "tiny", hierarchy: "cpuacct", totalNs: 2_000_000_000n, vcpuNs: { 0: 1_500_000_000n } },
      { id: "2", name: "db-main", hierarchy: "cpuacct", totalNs: 900_000_000n, vcpuNs: {} },
    ]);
    expect(vms[0]).toMatchObject({ userNs: 1_200_000_000n, systemNs: 600_000_000n });
  });

  it("reads a hybrid v1 host's unified cpu.stat when the VM sits at the cpuacct root (this project's hosts)", async () => {
    const { vms, errors } = await readVmCgroupCpu(at("cgroup-v1-hybrid-unified"));
    expect(errors).toEqual([]);
    expect(summary(vms)).toEqual([
      {
        id: "1",
        name: "tiny",
        hierarchy: "unified",
        totalNs: 8_072_247_000n,
        vcpuNs: { 0: 7_016_109_000n, 1: 7_627_000n },
      },
    ]);
  });

  it("reads pure v2 cpu.stat (µs), per vCPU from libvirt/vcpuN, in systemd slices", async () => {
    const { vms, errors } = await readVmCgroupCpu(at("cgroup-v2-systemd"));
    expect(errors).toEqual([]);
    expect(summary(vms)).toEqual([
      { id: "1", name: "vm-one", hierarchy: "v2", totalNs: 5_000_000_000n, vcpuNs: { 0: 3_800_000_000n } },
      { id: "2", name: "web-frontend-01", hierarchy: "v2", totalNs: 72_000_000_000n, vcpuNs: {} },
      { id: "3", name: "db", hierarchy: "v2", totalNs: 9_000_000_000n, vcpuNs: {} },
    ]);
  });

  it("finds nothing on a host without cgroups", async () => {
    expect(await readVmCgroupCpu(at("proc"))).toEqual({ vms: [], errors: [] });
  });

  it("matches a running domain by id and (possibly cut) name", () => {
    const scopes = [{ id: "3", name: "a-very-long-name-cut", path: "machine/qemu-3-a-very-long-name-cut" }];
    expect(cgroupOfDomain(scopes, { id: 3, name: "a-very-long-name-cut-short-by-libvirt" })).toBe(scopes[0]);
    expect(cgroupOfDomain(scopes, { id: 4, name: "a-very-long-name-cut" })).toBeUndefined();
    expect(cgroupOfDomain(scopes, { id: -1, name: "a-very-long-name-cut" })).toBeUndefined();
  });

  it("replaces libvirt's CPU time with the cgroup's where it has one, and keeps libvirt's for the rest", () => {
    const d = (cpu: bigint, vcpu1: bigint): DomainStats => ({
      name: "tiny",
      uuid: "00000000-0000-0000-0000-000000000001",
      id: 1,
      state: "running",
      vcpuCurrent: 2,
      cpu: { time: cpu },
      vcpus: [
        { index: 0, time: cpu },
        { index: 1, time: vcpu1 },
      ],
      nics: [],
      disks: [],
    });
    const counters = new CounterSet();
    const cg = (ns: bigint) => ({ totalNs: ns, vcpuNs: new Map([[0, ns / 2n]]) });
    sampleDomain(d(0n, 0n), counters, 0, cg(0n));
    // libvirt says 0.1 s of CPU; the cgroup 1 s: the cgroup's figure wins, vCPU 1 (no cgroup) keeps libvirt's.
    const s = sampleDomain(d(100_000_000n, 200_000_000n), counters, 1000, cg(1_000_000_000n));
    const v = (metric: string, vcpu?: string) =>
      s.find((x) => x.metric === metric && x.labels?.vcpu === vcpu)?.value;
    expect(v("vm.cpu.percent")).toBeCloseTo(50);
    expect(v("vm.vcpu.percent", "0")).toBeCloseTo(50);
    expect(v("vm.vcpu.percent", "1")).toBeCloseTo(20);
  });

  it("gives the cgroups collector a VM's CPU from the unified tree when cpuacct lacks it", async () => {
    const root = await mkdtemp(join(tmpdir(), "vesmon-hybrid-"));
    await cp(at("cgroup-v1-hybrid-unified"), root, { recursive: true });
    const clock = { now: 1_000_000 };
    const collector = await cgroupsCollector.create(
      { name: "cgroups", interval: "1s", paths: [] },
      testEnv({ cgroup: root }, clock),
    );
    await collector.collect();
    const stat = join(root, "unified/machine/qemu-1-tiny.libvirt-qemu/cpu.stat");
    await writeFile(stat, "usage_usec 8572247\nuser_usec 7917580\nsystem_usec 654666\nnice_usec 0\n");
    clock.now += 1000;
    const { samples, errors } = await collector.collect();
    expect(errors).toEqual([]);
    const cpu = samples.find((s) => s.metric === "cgroup.cpu.percent" && s.labels?.domain === "tiny");
    expect(cpu?.value).toBeCloseTo(50);
  });
});
