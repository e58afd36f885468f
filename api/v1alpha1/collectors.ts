import Type from "typebox";
import { Duration, NameFilter, StringEnum, StringSet, Struct } from "./common.ts";

/** Every collector the agent knows, in the order the docs list them. The agent's registry uses the same keys. */
export const COLLECTOR_NAMES = ["cpu", "memory", "load", "disk", "interface", "cgroups", "virt"] as const;
/** A collector key. */
export type CollectorName = (typeof COLLECTOR_NAMES)[number];

/** libvirt stat groups the `virt` collector can ask for in its bulk stats call (VIR_DOMAIN_STATS_*). */
export const LIBVIRT_STAT_GROUPS = ["state", "cpu-total", "balloon", "vcpu", "interface", "block"] as const;

/** Which collectors each collector-specific setting belongs to; a CEL rule refuses it on any other. */
export const COLLECTOR_SETTINGS: Record<string, readonly CollectorName[]> = {
  perCpu: ["cpu"],
  devices: ["disk", "interface"],
  paths: ["cgroups"],
  discoverVMs: ["cgroups"],
  libvirt: ["virt"],
  domains: ["virt"],
  stats: ["virt"],
  cpuSource: ["virt"],
  nicSource: ["virt"],
  slowGroupsInterval: ["virt"],
};

/** Where the `virt` collector takes each VM's CPU time from. */
export const VM_CPU_SOURCES = ["libvirt", "cgroup"] as const;

/** Where the `virt` collector takes each vNIC's counters from. */
export const VM_NIC_SOURCES = ["libvirt", "tap"] as const;

function onlyFor(field: string, names: readonly CollectorName[]) {
  const test =
    names.length === 1
      ? `self.name == '${names[0]}'`
      : `self.name in [${names.map((n) => `'${n}'`).join(", ")}]`;
  return {
    rule: `!has(self.${field}) || ${test}`,
    message: `${field} applies only to the ${names.join(" and ")} collector${names.length > 1 ? "s" : ""}`,
    fieldPath: `.${field}`,
    reason: "FieldValueForbidden" as const,
  };
}

/**
 * Where the `virt` collector finds libvirt: one daemon's socket (`socket`), or one daemon per KubeVirt VM found
 * from the virt-launcher pods on the node (`kubevirt`, needs cluster mode) or in the kubelet's pods directory
 * (`kubelet-dir`).
 */
export const LIBVIRT_DISCOVERY_MODES = ["socket", "kubevirt", "kubelet-dir"] as const;

/** libvirt connection settings of the `virt` collector. */
export const LibvirtConnection = Struct(
  {
    discovery: Type.Optional(
      StringEnum(LIBVIRT_DISCOVERY_MODES, {
        description:
          "Where the daemons are. `socket`: the one daemon at `socket`. `kubevirt`: one daemon per virt-launcher pod on this node (pods labelled `kubevirt.io=virt-launcher`, read from the API; the agent needs cluster mode, RBAC to list pods and the kubelet's pods directory mounted), VMs named by their VirtualMachineInstance. `kubelet-dir`: the same daemons found by scanning the kubelet's pods directory under the host root, without the API; VMs named from the domain name `<namespace>_<name>`. Defaults to `socket`.",
      }),
    ),
    socket: Type.Optional(
      Type.String({
        description:
          "Path of libvirt's UNIX socket. The read-only socket is enough; hosts with modular daemons use `/run/libvirt/virtqemud-sock-ro`.",
        default: "/run/libvirt/libvirt-sock-ro",
        minLength: 1,
        maxLength: 1024,
        pattern: "^/",
      }),
    ),
    uri: Type.Optional(
      Type.String({
        description: "Connection URI sent in CONNECT_OPEN, naming the hypervisor driver.",
        default: "qemu:///system",
        minLength: 1,
        maxLength: 1024,
      }),
    ),
    timeout: Type.Optional(
      Duration({ description: "Timeout of each libvirt call.", default: "5s", min: "100ms", max: "1m" }),
    ),
  },
  { title: "LibvirtConnection", description: "How the virt collector reaches libvirt." },
);

/** One entry of `spec.collectors`: a collector, its interval and its own settings. */
export const CollectorSpec = Struct(
  {
    name: StringEnum(COLLECTOR_NAMES, { description: "Which collector to run; each may appear once." }),
    interval: Type.Optional(
      Duration({
        description: "How often the collector samples. At most `events.measurementInterval`.",
        default: "10s",
        min: "1s",
        max: "1h",
      }),
    ),
    perCpu: Type.Optional(
      Type.Boolean({ description: "cpu: also report each CPU, not only the total. Defaults to true." }),
    ),
    devices: Type.Optional(NameFilter),
    paths: Type.Optional(
      StringSet({
        description:
          "cgroups: cgroup paths, relative to the cgroup root, to report (cpu, memory, io, pids). Defaults to `machine.slice`, `machine` and `kubepods.slice`.",
        maxItems: 32,
        itemMaxLength: 1024,
        itemPattern: "^[^/].*$",
      }),
    ),
    discoverVMs: Type.Optional(
      Type.Boolean({
        description:
          "cgroups: also report each VM's scope, found in the systemd (`machine.slice/machine-qemu…scope`) and non-systemd (`machine/qemu-…libvirt-qemu`) layouts. Defaults to true.",
      }),
    ),
    libvirt: Type.Optional(LibvirtConnection),
    domains: Type.Optional(NameFilter),
    stats: Type.Optional(
      Type.Array(StringEnum(LIBVIRT_STAT_GROUPS, { description: "A libvirt stat group." }), {
        description:
          "virt: libvirt stat groups whose figures to report. Defaults to all of them. Those a cheaper source serves (cpu-total from the cgroups, interface from the taps: `cpuSource`, `nicSource`) are asked of libvirt only for the domains it cannot serve, balloon and block only at `slowGroupsInterval`.",
        minItems: 1,
        maxItems: LIBVIRT_STAT_GROUPS.length,
        "x-kubernetes-list-type": "set",
      }),
    ),
    cpuSource: Type.Optional(
      StringEnum(VM_CPU_SOURCES, {
        description:
          "virt: where each VM's CPU time comes from: `libvirt` (its cpu-total and vcpu stat groups) or `cgroup` (the VM's cgroup: v2 `cpu.stat`, also in a hybrid v1 host's unified tree, or v1 `cpuacct`; per vCPU from the `vcpuN` sub-cgroups), with libvirt's figures for a VM or vCPU the cgroups do not count. Defaults to cgroup.",
      }),
    ),
    nicSource: Type.Optional(
      StringEnum(VM_NIC_SOURCES, {
        description:
          "virt: where each vNIC's counters come from: `libvirt` (its interface stat group) or `tap` (the host side of the VM's tap in the host's `/proc/net/dev`, matched through the domain XML's `<target dev>`, rx and tx swapped to the guest's view; a macvtap as is), with libvirt's interface group for the interfaces that have no host device here (vhost-user, hostdev, a device in another network namespace). Defaults to tap.",
      }),
    ),
    slowGroupsInterval: Type.Optional(
      Duration({
        description:
          "virt: how often the balloon and block stat groups (each a round trip into every QEMU) are read: by the collection nearest each multiple of this on the wall clock, and by the first. Defaults to `events.measurementInterval`, so each window's disk rates span exactly the window; longer, the windows between two reads carry no VM disk or balloon figures (and beyond three windows /metrics drops those series between reads).",
        min: "1s",
        max: "1h",
      }),
    ),
  },
  {
    title: "CollectorSpec",
    description: "A collector to run, with its interval and collector-specific settings.",
    rules: Object.entries(COLLECTOR_SETTINGS).map(([field, names]) => onlyFor(field, names)),
  },
);
