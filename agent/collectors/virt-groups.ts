import { StatsGroup } from "../libvirt/protocol.ts";
import type { HostNics } from "./vm-tap-nic.ts";

/** The groups that cost a round trip into every QEMU (query-blockstats, the balloon's guest stats): read at a cadence. */
export const SLOW_GROUPS = StatsGroup.balloon | StatsGroup.block;

/** Which figures the collector takes from cheaper sources than libvirt where it can. */
export interface CheapSources {
  /** vNIC counters from the host side of the taps. */
  nicFromTap: boolean;
  /** CPU time from the VM's cgroup. */
  cpuFromCgroup: boolean;
}

/** The groups a cheaper source can serve for every domain: left out of the bulk call. */
export function cheapGroups(cheap: CheapSources): number {
  return (cheap.nicFromTap ? StatsGroup.interface : 0) | (cheap.cpuFromCgroup ? StatsGroup["cpu-total"] : 0);
}

/** The groups of the bulk call for every domain: the configured ones but those served elsewhere or not due. */
export function bulkGroups(configured: number, cheap: CheapSources, slowDue: boolean): number {
  return configured & ~cheapGroups(cheap) & ~(slowDue ? 0 : SLOW_GROUPS);
}

/** What the cheap sources found for one running domain. */
export interface DomainServed {
  /** Its vNICs from the host devices; undefined when its XML or the interface table could not be read. */
  hostNics?: HostNics;
  /** Its cgroup's CPU times, when found. */
  cgroupCpu?: { userNs?: bigint; systemNs?: bigint };
}

/**
 * The groups a running domain still needs from libvirt (0: none): the configured cheap groups its cheap sources
 * could not fully serve.
 */
export function missingGroups(configured: number, cheap: CheapSources, served: DomainServed): number {
  let missing = 0;
  const nics = served.hostNics;
  if (cheap.nicFromTap && (!nics || nics.unserved.length > 0)) missing |= StatsGroup.interface;
  const cpu = served.cgroupCpu;
  // cpu-total also gives user and system time, which v1 cpuacct without cpuacct.stat does not.
  if (cheap.cpuFromCgroup && (cpu?.userNs === undefined || cpu.systemNs === undefined))
    missing |= StatsGroup["cpu-total"];
  return missing & configured;
}
