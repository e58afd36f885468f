// A launcher's daemon that refuses the first URI the agent asks for (as a session-mode virtqemud refuses
// qemu:///system): a real private libvirtd with the test driver only refuses qemu:///system, and the client opens
// the next URI. Run under the libvirtd lock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtClient } from "../../agent/libvirt/client.ts";
import { UriFallbackClient } from "../../agent/libvirt/discovery/uri-fallback.ts";
import { LibvirtHealthRegistry } from "../../agent/libvirt/health.ts";
import { type Libvirtd, startLibvirtd } from "../helpers/libvirtd.ts";

let lv: Libvirtd;
beforeAll(async () => {
  lv = await startLibvirtd();
});
afterAll(async () => {
  await lv?.stop();
});

describe("URI fallback against a real libvirtd", () => {
  it("opens the URI the daemon serves after it refused the first", async () => {
    const health = new LibvirtHealthRegistry();
    const c = new UriFallbackClient(
      lv.roSocket,
      ["qemu:///system", "test:///default"],
      (uri) => new LibvirtClient({ socketPath: lv.roSocket, uri, health, callTimeout: 5000 }),
    );
    await c.connect();
    const stats = await c.getAllDomainStats(0);
    expect(stats.map((s) => s.dom.name)).toEqual(["test"]);
    await c.close();
    // The refused attempt shows no socket down once the second client connected.
    expect(health.snapshot().map((s) => s.up)).not.toContain(false);
  });
});
