// The whole agent process (agent/main.ts, standalone, stdout sink) against a fake libvirtd on a real UNIX
// socket that goes through every misbehaviour of the client scenarios: host events must go on throughout,
// per-VM events must come back once the daemon behaves, and the process must never die. The log and /metrics
// must tell the story: one line per transition, the connection's state and its last error. No lock needed.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Proc } from "../../agent/libvirt/protocol.ts";
import {
  capturedPackets,
  type FakeLibvirtd,
  lifecycleMessage,
  startFakeLibvirtd,
  withSerial,
} from "../helpers/fake-libvirtd.ts";
import { prng, randomBytes, u32 } from "../helpers/prng.ts";

interface VesEvent {
  event: {
    commonEventHeader: { domain: string; sourceName: string; eventName: string };
    faultFields?: { alarmCondition: string; eventSeverity: string };
  };
}
interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  collector?: string;
  err?: string;
}

const NODE = "fuzz-node";
let fake: FakeLibvirtd;
let dir: string;
let agent: ChildProcess;
const events: { at: number; e: VesEvent }[] = [];
const logs: LogLine[] = [];
let stderr = "";
let metricsUrl = "";

/** The VM in the captured stats reply. */
const vmName = (() => {
  const reply = capturedPackets().find(
    (p) => p.direction === "rx" && p.proc === Proc.CONNECT_GET_ALL_DOMAIN_STATS,
  )!;
  const len = reply.bytes.readUInt32BE(32);
  return reply.bytes.toString("utf8", 36, 36 + len);
})();

beforeAll(async () => {
  fake = await startFakeLibvirtd();
  dir = await mkdtemp(join(tmpdir(), "vesmon-agent-fuzz-"));
  const profile = join(dir, "profile.yaml");
  await writeFile(
    profile,
    `apiVersion: vesmon.io/v1alpha1
kind: MonitoringProfile
metadata: {name: fuzz}
spec:
  collectors:
    - {name: load, interval: 1s}
    - {name: virt, interval: 1s, libvirt: {socket: ${fake.socket}, uri: "qemu:///system", timeout: 1s}}
  events: {measurementInterval: 5s, heartbeatInterval: 60s}
  faults: {vmLifecycle: true, collectorFailures: true}
  sinks:
    - {name: out, stdout: {}}
`,
  );
  agent = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "../../agent/main.ts"),
      ...[
        "--profile",
        profile,
        "--state-dir",
        join(dir, "state"),
        "--node-name",
        NODE,
        "--listen",
        "127.0.0.1:0",
      ],
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  createInterface({ input: agent.stdout! }).on("line", (line) => {
    if (!line.startsWith("{")) return;
    // A line is one VES event, with or without the {"event": …} envelope.
    const parsed = JSON.parse(line) as VesEvent | VesEvent["event"];
    events.push({ at: Date.now(), e: "event" in parsed ? parsed : { event: parsed } });
  });
  createInterface({ input: agent.stderr! }).on("line", (line) => {
    stderr += `${line}\n`;
    try {
      const l = JSON.parse(line) as LogLine & { url?: string };
      logs.push(l);
      if (l.url) metricsUrl = `${l.url}/metrics`;
    } catch {
      // Not a log line (a Node warning): kept in stderr for the failure message.
    }
  });
}, 30_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) agent.kill("SIGKILL");
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});

const measurements = (source: string, after = 0) =>
  events.filter(
    (r) =>
      r.at > after &&
      r.e.event.commonEventHeader.domain === "measurement" &&
      r.e.event.commonEventHeader.sourceName === source,
  );

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (agent.exitCode !== null || agent.signalCode !== null)
      throw new Error(
        `the agent died (${agent.exitCode ?? agent.signalCode}) waiting for ${what}:\n${stderr.slice(-3000)}`,
      );
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}; agent stderr:\n${stderr.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const random = prng(0xa6e47);
const stats = capturedPackets().find(
  (p) => p.direction === "rx" && p.proc === Proc.CONNECT_GET_ALL_DOMAIN_STATS,
)!.bytes;
/** What the daemon does instead of answering a stats call, per scenario. */
const sabotage: Record<string, (serial: number) => Buffer> = {
  "a corrupt lifecycle event (40 random bytes)": () => lifecycleMessage(randomBytes(random, 40)),
  "a lifecycle event with only the callback id": () => lifecycleMessage(u32(0)),
  "a length word of 32 MiB, then silence": () => u32(32 * 1024 * 1024),
  "length 0": () => u32(0),
  "length 0xffffffff": () => u32(0xffffffff),
  "random bytes": () => randomBytes(random, 200),
  "a wrong serial": (serial) => withSerial(stats, serial + 7),
  "a string past the buffer": (serial) => {
    const p = withSerial(stats, serial);
    p.writeUInt32BE(0x7ffffff0, 32);
    return p;
  },
  "half a reply": (serial) => withSerial(stats, serial).subarray(0, 700),
};

describe("the agent process against a misbehaving libvirtd", () => {
  it("keeps host events, gets per-VM events back, never dies, and tells it in the log and /metrics", async () => {
    await until(() => measurements(NODE).length > 0 && measurements(vmName).length > 0, "host and VM events");
    const started = Date.now();
    let armed: ((serial: number) => Buffer) | undefined;
    let answered = 0;
    fake.handler = (call, conn) => {
      if (call.header.proc !== Proc.CONNECT_GET_ALL_DOMAIN_STATS) return false;
      if (!armed) {
        answered++;
        return false;
      }
      conn.write(armed(call.header.serial));
      armed = undefined;
      return true;
    };
    for (const [name, bytes] of Object.entries(sabotage)) {
      // The next collection gets the sabotage; the virt job works again once a later one is answered.
      armed = bytes;
      await until(() => armed === undefined, `the agent's stats call for ${name}`);
      const before = answered;
      await until(() => answered > before, `a stats call answered after ${name}`);
    }
    const lastSabotage = Date.now();
    fake.handler = undefined;
    await until(
      () => measurements(vmName, lastSabotage).length > 0,
      "a VM measurement event after the last sabotage",
    );
    // Host events went on meanwhile: one per 5 s window.
    expect(measurements(NODE, started).length).toBeGreaterThanOrEqual(
      Math.floor((Date.now() - started) / 5000) - 1,
    );
    expect(agent.exitCode).toBeNull();
    expect(stderr).not.toMatch(/uncaught|XdrError/i);

    // The log: each loss of a working connection is one warning naming why; each transition of the virt job one
    // line, never one per failed collection.
    const lost = logs.filter((l) => l.msg === "libvirt connection lost; reconnecting");
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(lost.length).toBeLessThanOrEqual(Object.keys(sabotage).length);
    expect(new Set(lost.map((l) => l.reason))).toContain("protocol");
    const failing = logs.filter((l) => l.msg === "collector failing" && l.collector === "virt");
    const recovered = logs.filter((l) => l.msg === "collector recovered" && l.collector === "virt");
    expect(failing.length).toBeGreaterThanOrEqual(1);
    expect(recovered.length).toBe(failing.length);

    // /metrics: up again, the reconnects counted, the last error's reason.
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(new RegExp(`^vesmon_libvirt_up\\{socket="${fake.socket}"\\} 1$`, "m"));
    const reconnects = Number(/^vesmon_libvirt_reconnects_total\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]);
    expect(reconnects).toBeGreaterThanOrEqual(Object.keys(sabotage).length);
    expect(metrics).toMatch(
      /^vesmon_libvirt_last_error_info\{socket="[^"]+",reason="(protocol|stalled|closed)"\} 1$/m,
    );

    console.log(
      `${Object.keys(sabotage).length} sabotages: ${lost.length} "connection lost" warnings, ${failing.length} "collector failing" lines, ${reconnects} reconnects`,
    );
    // Damped: fewer CollectorFailed raises than sabotaged periods, each raise cleared.
    const faults = events.filter((r) => r.e.event.faultFields?.alarmCondition === "CollectorFailed");
    const raised = faults.filter((r) => r.e.event.faultFields?.eventSeverity === "MAJOR").length;
    expect(raised).toBeLessThanOrEqual(Object.keys(sabotage).length);
    expect(faults.filter((r) => r.e.event.faultFields?.eventSeverity === "NORMAL").length).toBe(raised);

    // Per-VM lifecycle events flow on the last connection: the captured "suspended" raises VmPaused.
    fake.lifecycleEvent();
    await until(
      () =>
        events.some(
          (r) =>
            r.e.event.commonEventHeader.sourceName === vmName &&
            r.e.event.commonEventHeader.domain === "fault",
        ),
      "a VM lifecycle fault from the event",
    );
  }, 120_000);
});
