import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURE_ROOT } from "../../test/helpers/collector-env.ts";
import { parseDomainXml } from "./domain-xml.ts";
import type { NicStats } from "./virt-stats.ts";
import { mergeNics, nicsFromHost, readNetDevNow } from "./vm-tap-nic.ts";

const xml = readFileSync(join(FIXTURE_ROOT, "libvirt/domain-interfaces.xml"), "utf8");
const netdev = () => readNetDevNow(join(FIXTURE_ROOT, "tap-host/proc/net/dev"));

describe("vNICs from the host side of the taps", () => {
  it("reads each <interface>'s type and host device from the domain XML, in libvirt's net.N order", () => {
    const info = parseDomainXml(xml);
    expect(info.interfaces).toEqual([
      { type: "bridge", dev: "vnet0" },
      { type: "vhostuser", dev: "vhost-user0" },
      { type: "ethernet", dev: "vnet1" },
      { type: "direct", dev: "macvtap0" },
      { type: "network", dev: "vnet9" },
      { type: "user" },
    ]);
    // The metadata is still read without the attributes.
    expect(info.metadata).toEqual({ "instance.id": "vnf-7" });
    expect(parseDomainXml("<domain><name>a</name><uuid>u</uuid></domain>").interfaces).toEqual([]);
  });

  it("swaps a tap's directions to the guest's view and keeps a macvtap's; the rest is left to libvirt", () => {
    const { nics, unserved } = nicsFromHost(parseDomainXml(xml).interfaces, netdev());
    expect(nics).toEqual([
      // vnet0 on the host: rx 10000 B, tx 90000 B; the guest received what the host side transmitted.
      {
        index: 0,
        name: "vnet0",
        rx: { bytes: 90000n, pkts: 900n, errs: 3n, drop: 4n },
        tx: { bytes: 10000n, pkts: 100n, errs: 1n, drop: 2n },
      },
      {
        index: 2,
        name: "vnet1",
        rx: { bytes: 7000n, pkts: 70n, errs: 0n, drop: 1n },
        tx: { bytes: 500n, pkts: 5n, errs: 0n, drop: 0n },
      },
      // A macvtap counts frames for the guest as its own rx.
      {
        index: 3,
        name: "macvtap0",
        rx: { bytes: 123456n, pkts: 1234n, errs: 0n, drop: 5n },
        tx: { bytes: 65432n, pkts: 654n, errs: 0n, drop: 6n },
      },
    ]);
    // vhost-user has no kernel device, vnet9 is in another namespace (not in this table), user-mode has none.
    // user-mode networking has no device at all, and no counters in libvirt either: nothing to ask for.
    expect(unserved).toEqual([1, 4]);
  });

  it("does not take a host device of the same name for an interface type without one (vhost-user)", () => {
    const table = netdev();
    table.set("vhost-user0", table.get("vnet0")!);
    expect(nicsFromHost([{ type: "vhostuser", dev: "vhost-user0" }], table)).toEqual({
      nics: [],
      unserved: [0],
    });
  });

  it("fills the unserved interfaces from libvirt's interface group, by index", () => {
    const host = nicsFromHost(parseDomainXml(xml).interfaces, netdev());
    const lib = (index: number, name: string): NicStats => ({
      index,
      name,
      rx: { bytes: 1n },
      tx: { bytes: 2n },
    });
    const fromLibvirt = [lib(0, "vnet0"), lib(1, "vhost-user0"), lib(4, "vnet9")];
    const merged = mergeNics(host, fromLibvirt);
    expect(merged.map((n) => [n.index, n.name, n.rx.bytes])).toEqual([
      [0, "vnet0", 90000n],
      [1, "vhost-user0", 1n],
      [2, "vnet1", 7000n],
      [3, "macvtap0", 123456n],
      [4, "vnet9", 1n],
    ]);
    expect(mergeNics(undefined, fromLibvirt)).toEqual(fromLibvirt);
  });

  it("names the file when the interface table cannot be read", () => {
    expect(() => readNetDevNow(join(FIXTURE_ROOT, "tap-host/proc/net/nonexistent"))).toThrow(/ENOENT/);
  });
});
