import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListenerProcess } from "../../agent/listener/process.ts";
import { schemaValidator } from "../../agent/listener/ves-validator.ts";
import { startTinyGuests, type TinyGuests } from "../helpers/guests.ts";
import { type Libvirtd, startLibvirtd } from "../helpers/libvirtd.ts";

// The agent as a user runs it, standalone: a real process with a profile file, two real TCG guests under a
// private libvirtd, and vesmon-listener validating every event against the official schema.
interface Recorded {
  receivedAt: string;
  event: {
    commonEventHeader: {
      domain: string;
      sourceName: string;
      eventName: string;
      startEpochMicrosec: number;
      lastEpochMicrosec: number;
    };
    measurementFields?: { loadArray?: unknown[] };
    faultFields?: { eventSeverity: string; alarmCondition: string; specificProblem: string };
  };
}

let lv: Libvirtd;
let guests: TinyGuests;
let listener: ListenerProcess;
let agent: ChildProcess;
let profileFile: string;
let stderr = "";

const profile = (collectors: string) => `apiVersion: vesmon.io/v1alpha1
kind: MonitoringProfile
metadata: {name: e2e}
spec:
  collectors:
${collectors}
  events: {measurementInterval: 5s, heartbeatInterval: 5s}
  faults: {vmLifecycle: true, collectorFailures: true}
  sinks:
    - name: ves
      ves:
        url: ${listener.url}
        timeout: 2s
        retry: {initialBackoff: 100ms, maxBackoff: 1s}
`;
const base = () => `    - {name: cpu, interval: 1s}
    - {name: memory, interval: 1s}
    - {name: virt, interval: 1s, libvirt: {socket: ${lv.roSocket}, uri: "qemu:///system", timeout: 2s}}`;

async function events(): Promise<Recorded[]> {
  return ((await (await fetch(`${listener.url}/control/events`)).json()) as { events: Recorded[] }).events;
}

async function until(check: (e: Recorded[]) => boolean, what: string, ms = 40_000): Promise<Recorded[]> {
  const end = Date.now() + ms;
  for (;;) {
    const e = await events();
    if (check(e)) return e;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}; agent stderr:\n${stderr.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  lv = await startLibvirtd({ qemu: true });
  guests = await startTinyGuests(lv, 2, `ve${process.pid % 1000}`);
  listener = new ListenerProcess({ port: 0, validate: schemaValidator() });
  await listener.start();
  const dir = await mkdtemp(join(tmpdir(), "vesmon-e2e-"));
  profileFile = join(dir, "profile.yaml");
  await writeFile(profileFile, profile(base()));
  agent = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "../../agent/main.ts"),
      "--profile",
      profileFile,
      "--state-dir",
      join(dir, "state"),
      "--node-name",
      "e2e-node",
      "--listen",
      "",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  agent.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
}, 120_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) agent.kill("SIGKILL");
  await listener?.close();
  await guests?.stop();
  await lv?.stop();
}, 60_000);

describe("standalone agent end to end", () => {
  it("delivers schema-valid measurement events for each VM and the host every interval, and heartbeats", async () => {
    const names = [...guests.guests.map((g) => g.name), "e2e-node"];
    const got = await until(
      (e) =>
        names.every(
          (n) =>
            e.filter(
              (r) =>
                r.event.commonEventHeader.domain === "measurement" &&
                r.event.commonEventHeader.sourceName === n,
            ).length >= 2,
        ),
      "two measurement windows per source",
    );
    for (const n of names) {
      const windows = got
        .filter(
          (r) =>
            r.event.commonEventHeader.domain === "measurement" && r.event.commonEventHeader.sourceName === n,
        )
        .map((r) => [
          r.event.commonEventHeader.startEpochMicrosec,
          r.event.commonEventHeader.lastEpochMicrosec,
        ]);
      const starts = windows.map(([s]) => s);
      // A window is labelled with the span its reads cover: from the read at one 5 s boundary to the read at the
      // next, which the collection's latency puts just after the boundary; consecutive windows share their edge.
      expect(
        windows.every(
          ([s = 0, l = 0]) => s % 5_000_000 < 1_000_000 && Math.abs(l - s - 5_000_000) < 1_000_000,
        ),
        `${n} windows span 5 s from just after a boundary`,
      ).toBe(true);
      expect(
        windows.slice(1).every(([s], i) => s === windows[i]![1]),
        `${n}: windows tile time`,
      ).toBe(true);
      expect(new Set(starts).size, `${n}: one event per window`).toBe(starts.length);
    }
    expect(got.some((r) => r.event.commonEventHeader.domain === "heartbeat")).toBe(true);
  }, 60_000);

  it("hot-applies an edit of the profile file", async () => {
    await writeFile(profileFile, profile(`${base()}\n    - {name: load, interval: 1s}`));
    await until(
      (e) =>
        e.some(
          (r) =>
            r.event.commonEventHeader.sourceName === "e2e-node" &&
            (r.event.measurementFields?.loadArray?.length ?? 0) > 0,
        ),
      "a host event with loadArray",
    );
    // The agent says what the edit changed, in one line.
    expect(stderr).toMatch(/"msg":"configuration applied: started e2e\/load"/);
  }, 60_000);

  it("raises a collector fault while libvirtd is gone and clears it when it is back", async () => {
    await lv.stopDaemon();
    const faults = (e: Recorded[]) =>
      e.filter(
        (r) =>
          r.event.commonEventHeader.domain === "fault" &&
          r.event.faultFields?.alarmCondition === "CollectorFailed",
      );
    const raised = await until((e) => faults(e).length >= 1, "a CollectorFailed fault");
    expect(faults(raised)[0]?.event.faultFields).toMatchObject({
      eventSeverity: "MAJOR",
      specificProblem: expect.stringMatching(/libvirt/),
    });
    await lv.startDaemon();
    const cleared = await until(
      (e) => faults(e).some((r) => r.event.faultFields?.eventSeverity === "NORMAL"),
      "the clear",
    );
    expect(faults(cleared).map((r) => r.event.faultFields?.eventSeverity)).toEqual(["MAJOR", "NORMAL"]);
  }, 90_000);

  it("stops cleanly on SIGTERM", async () => {
    const exited = new Promise<number | null>((r) => agent.once("exit", (code) => r(code)));
    agent.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 30_000);
});
