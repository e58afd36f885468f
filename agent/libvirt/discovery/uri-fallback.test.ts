import { describe, expect, it } from "vitest";
import { LibvirtConnectionError } from "../errors.ts";
import type { PoolClient } from "./daemon-pool.ts";
import { UriFallbackClient } from "./uri-fallback.ts";

/** A client of one URI: `accepts` says whether the daemon opens it, else how it fails. */
function fake(uri: string, accepts: (uri: string) => true | Error, log: string[]): PoolClient {
  return {
    socketPath: "/s",
    async connect() {
      log.push(`connect ${uri}`);
      const a = accepts(uri);
      if (a !== true) throw a;
    },
    async close() {
      log.push(`close ${uri}`);
    },
    onLifecycle: async () => async () => {},
    getAllDomainStats: async () => [{ dom: { name: uri, uuid: "u", id: 1 }, params: [] }],
    getXmlDesc: async () => "",
  };
}

describe("UriFallbackClient", () => {
  it("asks for the next URI when the daemon refuses the handshake, and uses the one it accepts", async () => {
    const log: string[] = [];
    const refused = new LibvirtConnectionError(
      "unsupported configuration: unexpected QEMU URI path",
      "handshake",
    );
    const c = new UriFallbackClient("/s", ["qemu:///system", "qemu:///session"], (uri) =>
      fake(uri, (u) => (u === "qemu:///session" ? true : refused), log),
    );
    await c.connect();
    expect((await c.getAllDomainStats(0))[0]?.dom.name).toBe("qemu:///session");
    expect(log).toEqual(["connect qemu:///system", "close qemu:///system", "connect qemu:///session"]);
  });

  it("stops at a failure that is not a refusal (no daemon), and at the last refusal", async () => {
    const log: string[] = [];
    const absent = new LibvirtConnectionError("connect ENOENT", "unreachable");
    const c = new UriFallbackClient("/s", ["a:///", "b:///"], (uri) => fake(uri, () => absent, log));
    await expect(c.connect()).rejects.toBe(absent);
    expect(log).toEqual(["connect a:///", "close a:///"]);
    const refused = new LibvirtConnectionError("refused", "handshake");
    const d = new UriFallbackClient("/s", ["a:///", "b:///"], (uri) => fake(uri, () => refused, []));
    await expect(d.connect()).rejects.toBe(refused);
    await expect(d.getAllDomainStats(0)).rejects.toThrow(/not connected/);
  });
});
