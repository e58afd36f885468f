import { execFile } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Libvirtd } from "./libvirtd.ts";

const run = promisify(execFile);

/** A running TCG guest. */
export interface TinyGuest {
  name: string;
  uuid: string;
  tap: string;
  /** PID of its QEMU process. */
  pid: number;
}

/** Guests started for a test, and how to get rid of them. */
export interface TinyGuests {
  guests: TinyGuest[];
  stop(): Promise<void>;
}

/** Finds the QEMU process of a guest by the `-name guest=<name>` on its command line. */
async function qemuPid(name: string): Promise<number> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(join("/proc", entry, "cmdline"), "utf8").catch(() => "");
    if (
      cmd.startsWith("/usr/bin/qemu-system") &&
      cmd.split("\0").some((a) => a.startsWith(`guest=${name},`) || a === `guest=${name}`)
    )
      return Number(entry);
  }
  throw new Error(`no QEMU process found for guest ${name}`);
}

/**
 * Starts `count` diskless-boot TCG guests (64 MiB, 2 vCPUs, one virtio disk, one tap NIC, a balloon) under
 * the daemon's qemu driver. SeaBIOS finds no OS and idles, which is enough for real stats and cgroups.
 */
export async function startTinyGuests(
  lv: Libvirtd,
  count: number,
  prefix = `vt${process.pid % 10000}`,
): Promise<TinyGuests> {
  const guests: TinyGuest[] = [];
  const stop = async () => {
    for (const g of guests) await lv.virsh("qemu:///system", "destroy", g.name).catch(() => {});
  };
  try {
    for (let i = 0; i < count; i++) {
      const name = `${prefix}-${i}`;
      const img = join(lv.dir, `${name}.qcow2`);
      await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "64M"]);
      const tap = `${prefix}t${i}`.slice(0, 15);
      const xml = join(lv.dir, `${name}.xml`);
      await writeFile(
        xml,
        `<domain type='qemu'>
  <name>${name}</name>
  <metadata><vnf xmlns='urn:vesmon:test'><id>vnf-${i}</id></vnf></metadata>
  <memory unit='MiB'>64</memory><currentMemory unit='MiB'>64</currentMemory><vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${img}'/><target dev='vda' bus='virtio'/></disk>
    <interface type='ethernet'><target dev='${tap}' managed='yes'/><model type='virtio'/></interface>
    <memballoon model='virtio'><stats period='1'/></memballoon><video><model type='none'/></video>
  </devices>
</domain>
`,
      );
      await lv.virsh("qemu:///system", "create", xml);
      const uuid = (await lv.virsh("qemu:///system", "domuuid", name)).trim();
      guests.push({ name, uuid, tap, pid: await qemuPid(name) });
    }
  } catch (err) {
    await stop();
    throw new Error(
      `starting TCG guests failed: ${(err as Error).message}\n${(await lv.log()).slice(-2000)}`,
    );
  }
  return { guests, stop };
}
