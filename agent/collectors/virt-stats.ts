import { DOMAIN_STATES, type DomainState } from "../libvirt/protocol.ts";
import type { DomainStatsRecord, TypedParam } from "../libvirt/remote.ts";

/** Counters of one vCPU (ns). */
export interface VcpuStats {
  index: number;
  state?: number;
  time?: bigint;
  wait?: bigint;
  /** Time the vCPU was runnable but waiting for a host CPU: steal, seen from the host. */
  delay?: bigint;
}

/** Counters of one vNIC. */
export interface NicStats {
  index: number;
  name: string;
  rx: { bytes?: bigint; pkts?: bigint; errs?: bigint; drop?: bigint };
  tx: { bytes?: bigint; pkts?: bigint; errs?: bigint; drop?: bigint };
}

/** Counters of one disk; times in ns. */
export interface DiskStats {
  index: number;
  name: string;
  path?: string;
  rd: { reqs?: bigint; bytes?: bigint; times?: bigint };
  wr: { reqs?: bigint; bytes?: bigint; times?: bigint };
  fl: { reqs?: bigint; times?: bigint };
  allocation?: bigint;
  capacity?: bigint;
  physical?: bigint;
}

/** One domain's bulk stats, organised by group. Absent groups (not asked for, or not supported) stay undefined. */
export interface DomainStats {
  name: string;
  uuid: string;
  id: number;
  state: DomainState;
  stateReason?: number;
  cpu?: { time?: bigint; user?: bigint; system?: bigint };
  /** KiB, as libvirt reports balloon figures. */
  balloon?: {
    current?: bigint;
    maximum?: bigint;
    available?: bigint;
    usable?: bigint;
    unused?: bigint;
    rss?: bigint;
  };
  vcpuCurrent?: number;
  vcpuMaximum?: number;
  vcpus: VcpuStats[];
  nics: NicStats[];
  disks: DiskStats[];
}

function big(p: TypedParam): bigint | undefined {
  if (p.type === "ullong" || p.type === "llong") return p.value;
  if (p.type === "int" || p.type === "uint") return BigInt(p.value);
  return undefined;
}

function num(p: TypedParam): number | undefined {
  return p.type === "int" || p.type === "uint" || p.type === "double" ? p.value : undefined;
}

function indexed<T extends { index: number }>(list: T[], index: number, make: () => T): T {
  let item = list.find((x) => x.index === index);
  if (!item) {
    item = make();
    list.push(item);
  }
  return item;
}

/**
 * Turns a stats record's flat typed parameters (`cpu.time`, `vcpu.0.delay`, `net.1.rx.bytes`, `block.0.rd.times`)
 * into groups. Unknown fields are ignored, so newer libvirt versions with more fields still parse.
 */
export function parseDomainStats(record: DomainStatsRecord): DomainStats {
  const out: DomainStats = { ...record.dom, state: "unknown", vcpus: [], nics: [], disks: [] };
  for (const p of record.params) {
    const parts = p.field.split(".");
    const [group, a, b, c] = parts;
    switch (group) {
      case "state":
        if (a === "state") out.state = DOMAIN_STATES[num(p) ?? -1] ?? "unknown";
        else if (a === "reason") out.stateReason = num(p);
        break;
      case "cpu":
        if (a === "time" || a === "user" || a === "system") {
          out.cpu ??= {};
          out.cpu[a] = big(p);
        }
        break;
      case "balloon": {
        const key = a === "last-update" ? undefined : (a as keyof NonNullable<DomainStats["balloon"]>);
        if (key && ["current", "maximum", "available", "usable", "unused", "rss"].includes(key)) {
          out.balloon ??= {};
          out.balloon[key] = big(p);
        }
        break;
      }
      case "vcpu":
        if (a === "current") out.vcpuCurrent = num(p);
        else if (a === "maximum") out.vcpuMaximum = num(p);
        else if (a !== undefined && /^\d+$/.test(a)) {
          const v = indexed<VcpuStats>(out.vcpus, Number(a), () => ({ index: Number(a) }));
          if (b === "state") v.state = num(p);
          else if (b === "time" || b === "wait" || b === "delay") v[b] = big(p);
        }
        break;
      case "net":
        if (a !== undefined && /^\d+$/.test(a)) {
          const n = indexed<NicStats>(out.nics, Number(a), () => ({
            index: Number(a),
            name: `net${a}`,
            rx: {},
            tx: {},
          }));
          if (b === "name" && p.type === "string") n.name = p.value;
          else if (
            (b === "rx" || b === "tx") &&
            (c === "bytes" || c === "pkts" || c === "errs" || c === "drop")
          )
            n[b][c] = big(p);
        }
        break;
      case "block":
        if (a !== undefined && /^\d+$/.test(a)) {
          const d = indexed<DiskStats>(out.disks, Number(a), () => ({
            index: Number(a),
            name: `block${a}`,
            rd: {},
            wr: {},
            fl: {},
          }));
          if (b === "name" && p.type === "string") d.name = p.value;
          else if (b === "path" && p.type === "string") d.path = p.value;
          else if ((b === "rd" || b === "wr") && (c === "reqs" || c === "bytes" || c === "times"))
            d[b][c] = big(p);
          else if (b === "fl" && (c === "reqs" || c === "times")) d.fl[c] = big(p);
          else if (b === "allocation" || b === "capacity" || b === "physical") d[b] = big(p);
        }
        break;
    }
  }
  for (const list of [out.vcpus, out.nics, out.disks]) list.sort((x, y) => x.index - y.index);
  return out;
}
