// How soon the libvirt client is back after its daemon was away, against a fake daemon on a real UNIX socket,
// with the client's default backoff (500 ms doubling to 30 s) and a real watch on the socket's directory. The
// backoff itself (30 s cap while the socket is absent, 2 s while it exists) is tested with manual timers in
// agent/libvirt/client.test.ts. No lock: no real libvirtd is involved.
import { afterEach, describe, expect, it } from "vitest";
import { LibvirtClient } from "../../agent/libvirt/client.ts";
import { LibvirtHealthRegistry } from "../../agent/libvirt/health.ts";
import { type FakeLibvirtd, startFakeLibvirtd } from "../helpers/fake-libvirtd.ts";

let fake: FakeLibvirtd | undefined;
let c: LibvirtClient | undefined;
afterEach(async () => {
  await c?.close();
  await fake?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ms until `c` is connected again, polling every 10 ms, at most `ms`. */
async function untilConnected(client: LibvirtClient, ms: number): Promise<number> {
  const start = Date.now();
  while (!client.connected && Date.now() - start < ms) await sleep(10);
  return Date.now() - start;
}

describe("libvirt client reconnecting", () => {
  it("is back within 1 s of the socket reappearing, however long the daemon was away", async () => {
    fake = await startFakeLibvirtd();
    c = new LibvirtClient({ socketPath: fake.socket, health: new LibvirtHealthRegistry() });
    await c.connect();
    await fake.stop();
    // 10 s away: attempts at about 0.5, 1.5, 3.5 and 7.5 s; without the watch the next is near 15.5 s.
    await sleep(10_000);
    expect(c.connected).toBe(false);
    await fake.start();
    const back = await untilConnected(c, 10_000);
    console.log(`reconnected ${back} ms after the socket reappeared`);
    expect(back).toBeLessThan(1000);
    expect(await c.libVersion()).toBe(9000000n);
  }, 25_000);
});
