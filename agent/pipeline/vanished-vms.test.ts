import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { MonitoringProfile } from "../../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../../api/v1alpha1/validators.ts";
import { ManualTimers } from "../../test/helpers/manual-timers.ts";
import { Agent } from "../agent.ts";
import type { CollectorFactory } from "../collectors/collector.ts";
import { CollectorRegistry } from "../collectors/registry.ts";
import { HOST, type Source } from "../collectors/sample.ts";
import { HostPaths } from "../host-paths.ts";

const VM: Source = { kind: "vm", name: "busy", uuid: "6f1c2d3e-0000-4000-8000-000000000001" };
const OTHER: Source = { kind: "vm", name: "idle", uuid: "6f1c2d3e-0000-4000-8000-000000000002" };

/** A virt collector listing `listed` (each at 99 % CPU, in `state`) like libvirt's bulk stats, and a load collector. */
function registry(timers: ManualTimers, listed: Set<Source>, state: string, unread: Set<string>) {
  const virt: CollectorFactory = {
    name: "virt",
    async create() {
      return {
        name: "virt",
        async collect() {
          const samples = [...listed].flatMap((source) => [
            { metric: "vm.state", value: 1, unit: "state" as const, source, labels: { state } },
            { metric: "vm.cpu.percent", value: 99, unit: "percent" as const, source },
          ]);
          // A VM whose daemon could not be read is named apart (KubeVirt: one daemon per VM).
          return { time: timers.now(), samples, errors: [], listsEveryVm: true, unreadVms: [...unread] };
        },
        async close() {},
      };
    },
  };
  const load: CollectorFactory = {
    name: "load",
    async create() {
      return {
        name: "load",
        async collect() {
          return {
            time: timers.now(),
            samples: [{ metric: "host.load.running", value: 1, unit: "count" as const, source: HOST }],
            errors: [],
          };
        },
        async close() {},
      };
    },
  };
  return new CollectorRegistry().register(virt).register(load);
}

function profile(collectors: object[], thresholds = true) {
  const r = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name: "p" },
    spec: {
      collectors,
      events: { measurementInterval: "5s", heartbeatInterval: "1h" },
      thresholds: thresholds ? [{ metric: "vm.cpu.percent", failureMax: 95, persist: 1 }] : [],
      sinks: [{ name: "out", stdout: {} }],
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const { nodeSelector: _n, ...spec } = (r.value as MonitoringProfile).spec;
  return { name: "p", generation: 1, spec };
}

type Fault = {
  commonEventHeader: { eventId: string; sourceName: string };
  faultFields: Record<string, string>;
};

async function agentOn(
  stateDir: string,
  timers: ManualTimers,
  listed: Set<Source>,
  state = "running",
  unread = new Set<string>(),
) {
  const out = new PassThrough();
  const faults: Fault[] = [];
  out.on("data", (c: Buffer) => {
    for (const l of c.toString().split("\n").filter(Boolean)) {
      const e = JSON.parse(l) as Fault & { commonEventHeader: { domain: string } };
      if (e.commonEventHeader.domain === "fault") faults.push(e);
    }
  });
  const agent = new Agent({
    registry: registry(timers, listed, state, unread),
    env: { paths: new HostPaths(), now: () => timers.now(), log: pino({ level: "silent" }) },
    timers,
    node: "node-a",
    stateDir,
    credentialsDir: "/nonexistent",
    stdout: out,
    log: pino({ level: "silent" }),
  });
  const step = async (ms: number) => {
    for (let done = 0; done < ms; done += 250) {
      timers.advance(250);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  };
  const summary = () => faults.map((f) => [f.commonEventHeader.sourceName, f.faultFields.eventSeverity]);
  return { agent, faults, step, summary };
}

async function setup() {
  const timers = new ManualTimers();
  timers.advance(1_800_000_000_000);
  return { timers, stateDir: await mkdtemp(join(tmpdir(), "vesmon-vanished-")) };
}

describe("alarms of vanished VMs", () => {
  it("are cleared once the VM is gone from a complete listing; a listed VM keeps its alarm", async () => {
    const { timers, stateDir } = await setup();
    const listed = new Set([VM, OTHER]);
    const a = await agentOn(stateDir, timers, listed);
    await a.agent.apply([profile([{ name: "virt", interval: "1s" }])]);
    await a.step(2000);
    expect(a.summary()).toEqual([
      ["busy", "CRITICAL"],
      ["idle", "CRITICAL"],
    ]);
    listed.delete(VM);
    await a.step(2000);
    expect(a.summary()).toEqual([
      ["busy", "CRITICAL"],
      ["idle", "CRITICAL"],
      ["busy", "NORMAL"],
    ]);
    expect(a.faults[2]?.commonEventHeader.eventId).toBe(a.faults[0]?.commonEventHeader.eventId);
    await a.agent.close();
  });

  it("are kept while the VM's daemon cannot be read (its pod is there), and cleared once it is gone", async () => {
    const { timers, stateDir } = await setup();
    const listed = new Set([VM, OTHER]);
    const unread = new Set<string>();
    const a = await agentOn(stateDir, timers, listed, "running", unread);
    await a.agent.apply([profile([{ name: "virt", interval: "1s" }])]);
    await a.step(2000);
    listed.delete(VM);
    unread.add(VM.uuid);
    await a.step(3000);
    expect(a.summary()).toEqual([
      ["busy", "CRITICAL"],
      ["idle", "CRITICAL"],
    ]);
    unread.clear();
    await a.step(2000);
    expect(a.summary()).toEqual([
      ["busy", "CRITICAL"],
      ["idle", "CRITICAL"],
      ["busy", "NORMAL"],
    ]);
    await a.agent.close();
  });

  it("are cleared after a restart when the stored alarm's VM is absent from the first listing", async () => {
    const { timers, stateDir } = await setup();
    const listed = new Set([VM]);
    const a = await agentOn(stateDir, timers, listed);
    await a.agent.apply([profile([{ name: "virt", interval: "1s" }])]);
    await a.step(2000);
    expect(a.summary()).toEqual([["busy", "CRITICAL"]]);
    await a.agent.close();
    listed.delete(VM);
    const b = await agentOn(stateDir, timers, listed);
    await b.agent.apply([profile([{ name: "virt", interval: "1s" }])]);
    await b.step(2000);
    expect(b.summary()).toEqual([["busy", "NORMAL"]]);
    expect(b.faults[0]?.commonEventHeader.eventId).toBe(a.faults[0]?.commonEventHeader.eventId);
    await b.agent.close();
  });

  it("are cleared at start-up when the profile no longer lists VMs at all", async () => {
    const { timers, stateDir } = await setup();
    const a = await agentOn(stateDir, timers, new Set([VM]), "paused");
    await a.agent.apply([profile([{ name: "virt", interval: "1s" }], false)]);
    await a.step(2000);
    expect(a.summary()).toEqual([["busy", "WARNING"]]);
    await a.agent.close();
    const b = await agentOn(stateDir, timers, new Set([VM]));
    await b.agent.apply([profile([{ name: "load", interval: "1s" }], false)]);
    await b.step(1000);
    expect(b.summary()).toEqual([["busy", "NORMAL"]]);
    await b.agent.close();
  });
});
