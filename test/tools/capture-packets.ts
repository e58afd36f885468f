// Captures real libvirt RPC packets into test/fixtures/libvirt/packets.json for the codec tests:
// `node test/tools/capture-packets.ts` (as root; starts a private libvirtd with the qemu driver and one tiny guest).
// Besides calls and replies it records the lifecycle events of a suspend and a resume, and a keepalive PING/PONG.
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LibvirtClient } from "../../agent/libvirt/client.ts";
import { startTinyGuests } from "../helpers/guests.ts";
import { startLibvirtd } from "../helpers/libvirtd.ts";
import { recordingDialer } from "../helpers/recording-dial.ts";

const rec = recordingDialer();

const lv = await startLibvirtd({ qemu: true });
try {
  const guests = await startTinyGuests(lv, 1);
  const client = new LibvirtClient({
    socketPath: lv.roSocket,
    uri: "qemu:///system",
    dial: rec.dial,
    keepalive: false,
  });
  rec.state.label = "handshake";
  await client.connect();
  rec.state.label = "lib-version";
  await client.libVersion();
  rec.state.label = "list-all-domains";
  await client.listAllDomains();
  rec.state.label = "all-domain-stats";
  await client.getAllDomainStats();
  rec.state.label = "xml-desc";
  await client.getXmlDesc((await client.listAllDomains())[0]!);
  rec.state.label = "error-no-domain";
  await client
    .getXmlDesc({ name: "no-such-domain", uuid: "00000000-0000-0000-0000-000000000000", id: -1 })
    .catch(() => {});
  rec.state.label = "event-register";
  const events: unknown[] = [];
  const unsubscribe = await client.onLifecycle((e) => events.push(e));
  rec.state.label = "event-lifecycle";
  const guest = guests.guests[0]!.name;
  await lv.virsh("qemu:///system", "suspend", guest);
  await lv.virsh("qemu:///system", "resume", guest);
  for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  rec.state.label = "event-deregister";
  await unsubscribe();
  // libvirtd pings a client that advertised keepalive after 5 s without traffic; the client answers.
  rec.state.label = "keepalive";
  await new Promise((r) => setTimeout(r, 5500));
  rec.state.label = "close";
  await client.close();
  await guests.stop();
} finally {
  await lv.stop();
}
const out = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/libvirt/packets.json");
const captured = rec.packets.map((p) => ({
  label: p.label,
  direction: p.direction,
  proc: p.header.proc,
  hex: p.bytes.toString("hex"),
}));
await writeFile(out, `${JSON.stringify({ libvirt: "9.0.0 (Debian 12)", captured }, null, 1)}\n`);
process.stdout.write(`wrote ${captured.length} packets to ${out}\n`);
