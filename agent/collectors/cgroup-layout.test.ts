import { describe, expect, it } from "vitest";
import {
  detectLayout,
  discoverVmScopes,
  isMachinePartition,
  normalizeCgroupPath,
  parseVmScopeName,
  unescapeUnitName,
} from "./cgroup-layout.ts";

describe("detectLayout", () => {
  it("sees v2 from cgroup.controllers at the root", () => {
    expect(
      detectLayout(["cgroup.controllers", "cgroup.procs", "cpu.stat", "machine.slice", "system.slice"]),
    ).toEqual({ version: 2 });
  });

  it("sees this machine's hybrid layout as v1 with separate mounts", () => {
    const entries = [
      "blkio",
      "cpu",
      "cpuacct",
      "cpuset",
      "devices",
      "freezer",
      "memory",
      "pids",
      "systemd",
      "unified",
    ];
    expect(detectLayout(entries)).toEqual({
      version: 1,
      controllers: { cpu: "cpu", cpuacct: "cpuacct", memory: "memory", blkio: "blkio", pids: "pids" },
    });
  });

  it("maps a co-mount to both controllers", () => {
    expect(detectLayout(["blkio", "cpu,cpuacct", "memory", "net_cls,net_prio", "pids"])).toEqual({
      version: 1,
      controllers: {
        cpu: "cpu,cpuacct",
        cpuacct: "cpu,cpuacct",
        memory: "memory",
        blkio: "blkio",
        pids: "pids",
      },
    });
  });

  it("prefers a single-controller name when systemd adds symlinks next to the co-mount", () => {
    expect(detectLayout(["cpu", "cpu,cpuacct", "cpuacct", "memory"])).toEqual({
      version: 1,
      controllers: { cpu: "cpu", cpuacct: "cpuacct", memory: "memory" },
    });
  });

  it("takes a partial v1 layout", () => {
    expect(detectLayout(["memory", "unified"])).toEqual({ version: 1, controllers: { memory: "memory" } });
  });

  it.each([[[]], [["unified", "systemd", "cpuset"]], [["cpuacct.usage"]]])(
    "finds nothing in %j",
    (entries) => {
      expect(detectLayout(entries)).toBeUndefined();
    },
  );
});

describe("parseVmScopeName", () => {
  it.each([
    ["machine-qemu\\x2d1\\x2dvm1.scope", { id: "1", name: "vm1" }],
    ["machine-qemu\\x2d1\\x2dvm\\x2done.scope", { id: "1", name: "vm-one" }],
    ["machine-qemu\\x2d42\\x2dweb\\x2dfrontend\\x2d01.scope", { id: "42", name: "web-frontend-01" }],
    ["machine-qemu\\x2d7\\x2dweb.example.com.scope", { id: "7", name: "web.example.com" }],
    // libvirt cuts `qemu-<id>-<name>` at 64 characters: the name arrives shortened.
    [
      "machine-qemu\\x2d12\\x2da\\x2dvery\\x2dlong\\x2ddomain\\x2dname\\x2dthat\\x2dlibvirt\\x2dhas\\x2dto\\x2dcut\\x2dshort\\x2dhe.scope",
      { id: "12", name: "a-very-long-domain-name-that-libvirt-has-to-cut-short-he" },
    ],
    [
      "qemu-12-a-very-long-domain-name-that-libvirt-has-to-cut-short-he.libvirt-qemu",
      { id: "12", name: "a-very-long-domain-name-that-libvirt-has-to-cut-short-he" },
    ],
    // A name of characters libvirt drops leaves only the id.
    ["machine-qemu\\x2d3.scope", { id: "3", name: "" }],
    ["qemu-1-tiny.libvirt-qemu", { id: "1", name: "tiny" }],
    ["qemu-2-db-main.libvirt-qemu", { id: "2", name: "db-main" }],
    ["qemu-15-a.b-c.libvirt-qemu", { id: "15", name: "a.b-c" }],
    ["_qemu-4-x.libvirt-qemu", { id: "4", name: "x" }],
  ])("reads %s", (dir, expected) => {
    expect(parseVmScopeName(dir)).toEqual(expected);
  });

  it.each([
    "libvirt",
    "emulator",
    "vcpu0",
    "machine-production.slice",
    "machine-lxc\\x2d1\\x2dct.scope",
    "machine-qemu\\x2dvm1.scope",
    "machine-qemu\\x2d1\\x2dvm1.slice",
    "qemu-1-tiny",
    "qemu-x-tiny.libvirt-qemu",
    "lxc-1-ct.libvirt-lxc",
    "prod.partition",
    "cpu.stat",
  ])("ignores %s", (dir) => {
    expect(parseVmScopeName(dir)).toBeUndefined();
  });
});

describe("helpers", () => {
  it("unescapes systemd unit names", () => {
    expect(unescapeUnitName("qemu\\x2d1\\x2dvm\\x2done")).toBe("qemu-1-vm-one");
    expect(unescapeUnitName("a\\x2Fb\\xzz")).toBe("a/b\\xzz");
  });

  it.each([
    ["machine-production.slice", true],
    ["prod.partition", true],
    ["machine.slice", false],
    ["machine-qemu\\x2d1\\x2dvm1.scope", false],
    ["system.slice", false],
  ])("%s is a partition: %s", (dir, expected) => {
    expect(isMachinePartition(dir)).toBe(expected);
  });

  it.each([
    ["machine.slice", "machine.slice"],
    ["machine.slice/", "machine.slice"],
    ["./machine//x/", "machine/x"],
    ["a/../b", "b"],
    [".", undefined],
    ["..", undefined],
    ["../etc", undefined],
    ["a/../../etc", undefined],
    ["/machine", undefined],
  ])("normalizes %j to %j", (path, expected) => {
    expect(normalizeCgroupPath(path)).toBe(expected);
  });
});

describe("discoverVmScopes", () => {
  const tree: Record<string, string[]> = {
    "machine.slice": [
      "machine-qemu\\x2d2\\x2dweb\\x2d01.scope",
      "machine-qemu\\x2d1\\x2dvm\\x2done.scope",
      "machine-production.slice",
      "something-else.scope",
    ],
    "machine.slice/machine-production.slice": ["machine-qemu\\x2d3\\x2ddb.scope", "machine-deeper.slice"],
    "machine.slice/machine-production.slice/machine-deeper.slice": [
      "machine-qemu\\x2d9\\x2dtoo\\x2ddeep.scope",
    ],
    "machine.slice/machine-qemu\\x2d1\\x2dvm\\x2done.scope": ["libvirt"],
    machine: ["qemu-4-tiny.libvirt-qemu", "prod.partition", "emulator"],
    "machine/prod.partition": ["qemu-5-db-main.libvirt-qemu"],
  };
  const lister = async (rel: string) => tree[rel] ?? [];

  it("finds scopes in both layouts and one partition level down, sorted by path", async () => {
    expect(await discoverVmScopes(lister)).toEqual([
      { path: "machine.slice/machine-production.slice/machine-qemu\\x2d3\\x2ddb.scope", id: "3", name: "db" },
      { path: "machine.slice/machine-qemu\\x2d1\\x2dvm\\x2done.scope", id: "1", name: "vm-one" },
      { path: "machine.slice/machine-qemu\\x2d2\\x2dweb\\x2d01.scope", id: "2", name: "web-01" },
      { path: "machine/prod.partition/qemu-5-db-main.libvirt-qemu", id: "5", name: "db-main" },
      { path: "machine/qemu-4-tiny.libvirt-qemu", id: "4", name: "tiny" },
    ]);
  });

  it("finds nothing on a host without VMs", async () => {
    expect(await discoverVmScopes(async () => [])).toEqual([]);
  });
});
