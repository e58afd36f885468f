// A real libvirtd (test driver) killed and started again while the virt collector watches it: lifecycle events
// must flow again within 2 s of the daemon being back, however long it was away. Run under the libvirtd lock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Collector } from "../../agent/collectors/collector.ts";
import { virtCollector } from "../../agent/collectors/virt.ts";
import { testEnv } from "../helpers/collector-env.ts";
import { type Libvirtd, startLibvirtd } from "../helpers/libvirtd.ts";

let lv: Libvirtd;
let collector: Collector | undefined;
beforeAll(async () => {
  lv = await startLibvirtd();
});
afterAll(async () => {
  await collector?.close();
  await lv?.stop();
});

/** Suspends and resumes the test domain until the collector reports an event; ms from `since` to that event. */
async function eventsFlow(c: Collector, since: number, ms = 15_000): Promise<number> {
  for (;;) {
    await lv.virsh("test:///default", "suspend", "test").catch(() => {});
    await lv.virsh("test:///default", "resume", "test").catch(() => {});
    const { events } = await c.collect().catch(() => ({ events: undefined }));
    if (events?.length) return Date.now() - since;
    if (Date.now() - since > ms) throw new Error(`no lifecycle event within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("virt collector across a real libvirtd restart", () => {
  it("gets lifecycle events again within 2 s of the daemon being back after 8 s away", async () => {
    collector = await virtCollector.create(
      {
        name: "virt",
        interval: "1s",
        libvirt: { socket: lv.roSocket, uri: "test:///default", timeout: "2s" },
      },
      testEnv({ root: "/" }),
    );
    expect(await eventsFlow(collector, Date.now())).toBeLessThan(15_000);
    await lv.stopDaemon();
    await expect(collector.collect()).rejects.toThrow(/libvirt/);
    // 8 s away: without watching the socket, the client's next attempt would come near 15.5 s.
    await new Promise((r) => setTimeout(r, 8000));
    await lv.startDaemon();
    const back = Date.now();
    const resumed = await eventsFlow(collector, back);
    console.log(`lifecycle events resumed ${resumed} ms after libvirtd was back`);
    expect(resumed).toBeLessThan(2000);
  }, 60_000);
});
