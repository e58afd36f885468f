/** Units a sample may carry; VES units are derived from these (KiB, percent, octets/s, ms/op). */
export type Unit =
  | "percent"
  | "bytes"
  | "bytes/s"
  | "packets"
  | "packets/s"
  | "ops"
  | "ops/s"
  | "ms"
  | "ms/op"
  | "seconds"
  | "count"
  | "count/s"
  | "load"
  | "state";

/** What a sample is about: the host, or one VM (a libvirt domain). */
export type Source = { kind: "host" } | { kind: "vm"; name: string; uuid: string };

/** The host, as a shared source value. */
export const HOST: Source = Object.freeze({ kind: "host" });

/**
 * One measured value. `metric` follows the threshold namespace (`host.cpu.percent`, `vm.cpu.percent`,
 * `cgroup.memory.usage`); `labels` tell instances apart (`cpu`, `state`, `device`, `path`).
 */
export interface Sample {
  metric: string;
  value: number;
  unit: Unit;
  source: Source;
  labels?: Readonly<Record<string, string>>;
  /** True when the value may be wrong: first sample of a rate, a counter reset or a wrap. */
  suspect?: boolean;
}

/** Something that happened at a source between collections (e.g. a VM crashed), for fault events. */
export interface SourceEvent {
  kind: "lifecycle";
  /** When it was seen, ms since the epoch. */
  time: number;
  source: Source;
  /** libvirt lifecycle event name: started, suspended, resumed, stopped, shutdown, crashed, … */
  event: string;
  /** libvirt's detail code for the event. */
  detail: number;
}

/** What one collection produced. Partial failures are data: the samples that could be read, and what could not. */
export interface CollectResult {
  /** Wall-clock time of the collection, ms since the epoch. */
  time: number;
  samples: Sample[];
  /** Parts that failed while the rest was read (e.g. one unreadable cgroup path), each naming what failed. */
  errors: string[];
  /** Events seen since the previous collection, oldest first. */
  events?: SourceEvent[];
  /**
   * True when the samples name every VM the collector monitors (a complete listing, as libvirt's bulk stats
   * give): a VM absent from them is gone, and its alarms are cleared.
   */
  listsEveryVm?: boolean;
  /**
   * With `listsEveryVm`: uuids of VMs that could not be read this time (their daemon is unreachable) though
   * they may still run. They are not gone, so their alarms stay.
   */
  unreadVms?: readonly string[];
}
