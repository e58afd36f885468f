import { readFileSync } from "node:fs";
import type { DomainInterface } from "./domain-xml.ts";
import { type NetDevStats, parseNetDev } from "./interface.ts";
import type { NicStats } from "./virt-stats.ts";

/**
 * Interface types whose QEMU end is a kernel tap on the host (`vnetN`). A tap is a pipe: what the host side
 * transmits, the guest receives, so the guest's rx is the tap's tx and the other way round (libvirt swaps them too).
 */
const TAP_TYPES: ReadonlySet<string> = new Set(["ethernet", "bridge", "network"]);

/**
 * Interface types whose host device is a macvtap: it counts from the guest's side already (frames for the guest are
 * its rx), so nothing is swapped (libvirt's virDomainNetTypeSharesHostView).
 */
const HOST_VIEW_TYPES: ReadonlySet<string> = new Set(["direct"]);

/** A domain's vNIC counters taken from the host devices, and the interfaces that have none to read. */
export interface HostNics {
  /** By the interface's index in the domain XML, which is libvirt's `net.N` index. */
  nics: NicStats[];
  /** Indexes of the named interfaces with no host device here (vhost-user, a device in another netns). */
  unserved: number[];
}

/** The guest's view of one host device's counters: swapped for a tap, as is for a macvtap. */
function guestView(index: number, name: string, s: NetDevStats, swapped: boolean): NicStats {
  const hostRx = { bytes: s.rxBytes, pkts: s.rxPackets, errs: s.rxErrors, drop: s.rxDropped };
  const hostTx = { bytes: s.txBytes, pkts: s.txPackets, errs: s.txErrors, drop: s.txDropped };
  return swapped ? { index, name, rx: hostTx, tx: hostRx } : { index, name, rx: hostRx, tx: hostTx };
}

/**
 * A domain's vNIC counters from the host's interface table (`/proc/net/dev`), matched through its XML's
 * `<target dev>`. Pure: the caller reads the table once for every domain.
 */
export function nicsFromHost(
  interfaces: readonly DomainInterface[],
  netdev: ReadonlyMap<string, NetDevStats>,
): HostNics {
  const nics: NicStats[] = [];
  const unserved: number[] = [];
  interfaces.forEach((i, index) => {
    // Without a host name (user-mode networking) libvirt has no counters either (its interface group skips it).
    if (i.dev === undefined) return;
    const stats = netdev.get(i.dev);
    const tap = TAP_TYPES.has(i.type);
    if (stats && (tap || HOST_VIEW_TYPES.has(i.type))) nics.push(guestView(index, i.dev, stats, tap));
    else unserved.push(index);
  });
  return { nics, unserved };
}

/**
 * Reads the host's interface table now, synchronously, so that its counters are taken at the instant the caller
 * records (one small file for every VM's taps, where libvirt's interface group reads it once per domain).
 */
export function readNetDevNow(path: string): Map<string, NetDevStats> {
  return parseNetDev(readFileSync(path, "utf8")).interfaces;
}

/**
 * `fromHost`'s vNICs where it has them and libvirt's (`fromLibvirt`, the interface group) for the rest, by index.
 * Without `fromHost` (no XML, no interface table), libvirt's alone.
 */
export function mergeNics(fromHost: HostNics | undefined, fromLibvirt: readonly NicStats[]): NicStats[] {
  if (!fromHost) return [...fromLibvirt];
  const rest = fromLibvirt.filter((n) => fromHost.unserved.includes(n.index));
  return [...fromHost.nics, ...rest].sort((a, b) => a.index - b.index);
}

/**
 * Remembers which vNICs fell back to libvirt, so the log has one line when one starts to (no host device found)
 * and one when its tap is back, not one per collection.
 */
export class NicFallbackLog {
  #previous = new Set<string>();

  /** `now`: the vNICs (`domain/device`) without a host device in this collection; returns the lines to log. */
  update(now: ReadonlySet<string>): { fellBack: string[]; recovered: string[] } {
    const fellBack = [...now].filter((k) => !this.#previous.has(k));
    const recovered = [...this.#previous].filter((k) => !now.has(k));
    this.#previous = new Set(now);
    return { fellBack, recovered };
  }
}
