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

/** A boot sector that spins for ever (`jmp $`, then the 0x55AA signature): a guest that keeps one vCPU busy. */
export function spinningBootSector(): Buffer {
  const sector = Buffer.alloc(512);
  sector[0] = 0xeb;
  sector[1] = 0xfe;
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** How to start guests: which of them boot a spinning boot sector (kept busy) instead of idling in SeaBIOS. */
export interface GuestOptions {
  busy?: (index: number) => boolean;
}

/**
 * Starts `count` TCG guests (64 MiB, 2 vCPUs, one virtio disk, one tap NIC, a balloon) under the daemon's qemu
 * driver. By default SeaBIOS finds no OS and idles, which is enough for real stats and cgroups; a busy guest boots
 * a raw disk holding `spinningBootSector` (from IDE, which SeaBIOS boots without a virtio-blk driver).
 */
export async function startTinyGuests(
  lv: Libvirtd,
  count: number,
  prefix = `vt${process.pid % 10000}`,
  opts: GuestOptions = {},
): Promise<TinyGuests> {
  const guests: TinyGuest[] = [];
  const stop = async () => {
    for (const g of guests) await lv.virsh("qemu:///system", "destroy", g.name).catch(() => {});
  };
  try {
    for (let i = 0; i < count; i++) {
      const name = `${prefix}-${i}`;
      const busy = opts.busy?.(i) === true;
      const img = join(lv.dir, `${name}.${busy ? "raw" : "qcow2"}`);
      if (busy) await writeFile(img, Buffer.concat([spinningBootSector(), Buffer.alloc(1024 * 1024 - 512)]));
      else await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "64M"]);
      const disk = busy
        ? `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${img}'/><target dev='hda' bus='ide'/></disk>`
        : `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${img}'/><target dev='vda' bus='virtio'/></disk>`;
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
    ${disk}
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
