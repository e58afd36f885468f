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

/** A stats field name taken apart: `vcpu.0.delay` is group "vcpu", a "0", index 0, b "delay". */
interface FieldName {
  group: string;
  a: string | undefined;
  /** `a` as a device index, or -1 when it is not a whole number. */
  index: number;
  b: string | undefined;
  c: string | undefined;
}

const BALLOON_KEYS: ReadonlySet<string> = new Set([
  "current",
  "maximum",
  "available",
  "usable",
  "unused",
  "rss",
]);

/**
 * Field names taken apart, by name. The same few hundred names come back in every reply, so each is split once
 * instead of once per domain per collection; the bound keeps a daemon that invents names from growing it.
 */
const fieldNames = new Map<string, FieldName>();
const FIELD_NAMES_MAX = 4096;

function fieldName(field: string): FieldName {
  let f = fieldNames.get(field);
  if (f) return f;
  const [group = "", a, b, c] = field.split(".");
  f = { group, a, index: a !== undefined && /^\d+$/.test(a) ? Number(a) : -1, b, c };
  if (fieldNames.size >= FIELD_NAMES_MAX) fieldNames.clear();
  fieldNames.set(field, f);
  return f;
}

function byIndex<T extends { index: number }>(list: readonly T[], index: number): T | undefined {
  for (const x of list) if (x.index === index) return x;
  return undefined;
}

function vcpuAt(out: DomainStats, index: number): VcpuStats {
  const v = byIndex(out.vcpus, index);
  if (v) return v;
  const made: VcpuStats = { index };
  out.vcpus.push(made);
  return made;
}

/** The vNIC at `index`, made on first sight and named `net<a>` (the field's own spelling) until its name comes. */
function nicAt(out: DomainStats, index: number, a: string): NicStats {
  const n = byIndex(out.nics, index);
  if (n) return n;
  const made: NicStats = { index, name: `net${a}`, rx: {}, tx: {} };
  out.nics.push(made);
  return made;
}

/** The disk at `index`, made on first sight and named `block<a>` until its name comes. */
function diskAt(out: DomainStats, index: number, a: string): DiskStats {
  const d = byIndex(out.disks, index);
  if (d) return d;
  const made: DiskStats = { index, name: `block${a}`, rd: {}, wr: {}, fl: {} };
  out.disks.push(made);
  return made;
}

/**
 * Turns a stats record's flat typed parameters (`cpu.time`, `vcpu.0.delay`, `net.1.rx.bytes`, `block.0.rd.times`)
 * into groups. Unknown fields are ignored, so newer libvirt versions with more fields still parse.
 */
export function parseDomainStats(record: DomainStatsRecord): DomainStats {
  const out: DomainStats = { ...record.dom, state: "unknown", vcpus: [], nics: [], disks: [] };
  const { params } = record;
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    const { group, a, index, b, c } = fieldName(p.field);
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
      case "balloon":
        if (a !== undefined && BALLOON_KEYS.has(a)) {
          out.balloon ??= {};
          out.balloon[a as keyof NonNullable<DomainStats["balloon"]>] = big(p);
        }
        break;
      case "vcpu":
        if (a === "current") out.vcpuCurrent = num(p);
        else if (a === "maximum") out.vcpuMaximum = num(p);
        else if (index >= 0) {
          const v = vcpuAt(out, index);
          if (b === "state") v.state = num(p);
          else if (b === "time" || b === "wait" || b === "delay") v[b] = big(p);
        }
        break;
      case "net":
        if (index >= 0) {
          const n = nicAt(out, index, a!);
          if (b === "name" && p.type === "string") n.name = p.value;
          else if (
            (b === "rx" || b === "tx") &&
            (c === "bytes" || c === "pkts" || c === "errs" || c === "drop")
          )
            n[b][c] = big(p);
        }
        break;
      case "block":
        if (index >= 0) {
          const d = diskAt(out, index, a!);
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
  // libvirt lists devices in index order; sorting (which copies the array) is for the rare reply that does not.
  if (!inIndexOrder(out.vcpus)) out.vcpus.sort(byIndexOrder);
  if (!inIndexOrder(out.nics)) out.nics.sort(byIndexOrder);
  if (!inIndexOrder(out.disks)) out.disks.sort(byIndexOrder);
  return out;
}

const byIndexOrder = (x: { index: number }, y: { index: number }) => x.index - y.index;

function inIndexOrder(list: readonly { index: number }[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i - 1]!.index > list[i]!.index) return false;
  return true;
}
