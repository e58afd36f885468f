import { afterEach, describe, expect, it } from "vitest";
import { nodeMonitor } from "../../test/fake-apiserver/fixtures.ts";
import { FakeApiServer } from "../../test/fake-apiserver/index.ts";
import { ManualTimers } from "../../test/helpers/manual-timers.ts";
import { StatusWriter } from "./writer.ts";

let api: FakeApiServer;
afterEach(async () => {
  await api?.close();
});

describe("StatusWriter", () => {
  it("replaces the status, so a key the agent no longer reports disappears from the NodeMonitor", async () => {
    api = new FakeApiServer();
    await api.start();
    api.create(nodeMonitor("n1"));
    const writer = new StatusWriter({
      api: api.restClient(),
      nodeName: "n1",
      timers: new ManualTimers(),
    });
    writer.request(() => ({
      observedGeneration: 1,
      configHash: "sha256:0123456789abcdef",
      agentVersion: "1",
    }));
    await writer.flush();
    // The configuration was dropped (e.g. refused): no configHash applied any more.
    writer.request(() => ({ observedGeneration: 2, agentVersion: "1" }));
    await writer.flush();
    expect(api.get("vesmon.io/v1alpha1", "NodeMonitor", "n1")?.status).toEqual({
      observedGeneration: 2,
      agentVersion: "1",
    });
    expect(writer.writes).toBe(2);
    const sent = api.requests.filter((r) => r.path.endsWith("/nodemonitors/n1/status"));
    expect(new URLSearchParams(sent[0]!.query).get("fieldManager")).toBe("vesmon-agent");
  });

  it("writes an unchanged status again to a NodeMonitor created anew, once told", async () => {
    api = new FakeApiServer();
    await api.start();
    api.create(nodeMonitor("n1"));
    const writer = new StatusWriter({
      api: api.restClient(),
      nodeName: "n1",
      timers: new ManualTimers(),
    });
    const status = { observedGeneration: 1, configHash: "sha256:0123456789abcdef", agentVersion: "1" };
    writer.request(() => status);
    await writer.flush();
    api.delete("vesmon.io/v1alpha1", "NodeMonitor", "n1");
    api.create(nodeMonitor("n1"));
    writer.request(() => status);
    await writer.flush();
    expect(api.get("vesmon.io/v1alpha1", "NodeMonitor", "n1")?.status).toBeUndefined();
    writer.forget();
    writer.request(() => status);
    await writer.flush();
    expect(api.get("vesmon.io/v1alpha1", "NodeMonitor", "n1")?.status).toEqual(status);
  });
});
