import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync, rmSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { StatsSnapshot } from "../agent/listener/stats.ts";
import type { SinkState } from "../agent/sinks/sink.ts";
import type { Event7 as VesEvent } from "../agent/ves/types.ts";
import { parseDuration } from "../api/duration.ts";
import type { EventSettings, VesSink } from "../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import { deliveryMarkdown } from "./delivery-report.ts";
import { EventFeed, type SenderConfig } from "./delivery-sender.ts";
import { cpuSeconds, freePort, rssMiB, terminate } from "./proc.ts";

export { deliveryMarkdown };

/** One timed burst through the VES sink to a listener that is up. */
export interface ThroughputRun {
  validation: "schema" | "envelope";
  repetition: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** Request bodies, 10^6 bytes per second. */
  mbPerSecond: number;
  requests: number;
  eventsPerRequest: number;
  senderCpuMsPer1000: number;
  listenerCpuMsPer1000: number;
  /** Events the listener accepted and answers other than 202, to check the run. */
  accepted: number;
  refusedRequests: number;
}

/** The outage: events spooled while the listener is down, then drained once it is up. */
export interface ReplayRun {
  simulatedSeconds: number;
  events: number;
  measurementEvents: number;
  heartbeatEvents: number;
  payloadBytes: number;
  spoolFiles: number;
  /** Segment files: allocated (du) and apparent size. */
  spoolDiskBytes: number;
  spoolApparentBytes: number;
  buildSeconds: number;
  writeSeconds: number;
  writeCpuMsPer1000: number;
  retriesWhileDown: number;
  peakWriteRssMiB: number;
  /** From the listener printing its URL to the first acknowledged batch, and to the spool being empty. */
  firstAcceptSeconds: number;
  drainSeconds: number;
  eventsPerSecond: number;
  /** From the first acknowledged batch to the last: the rate without the listener's start. */
  steadyEventsPerSecond: number;
  mbPerSecond: number;
  requests: number;
  eventsPerRequest: number;
  senderCpuMsPer1000: number;
  listenerCpuMsPer1000: number;
  senderRssBeforeMiB: number;
  senderPeakRssMiB: number;
  /** VmHWM after resetting it through clear_refs when the listener came up, or the sender's own sampling. */
  peakMethod: "VmHWM" | "sampled";
  accepted: number;
  received: number;
  duplicates: number;
  missing: number;
  inOrder: boolean;
  droppedBySink: number;
  spoolFilesAfterDrain: number;
  spoolApparentBytesAfterDrain: number;
}

/** The CRD's defaults for the event intervals and a VES sink, as the validator applies them. */
export interface DeliveryDefaults {
  measurementInterval: string;
  heartbeatInterval: string;
  batchMaxEvents: number;
  batchMaxBytes: string;
  timeout: string;
  bufferMaxBytes: string;
  bufferMaxAge: string;
  initialBackoff: string;
  maxBackoff: string;
}

/** Everything the delivery benchmark measured. */
export interface DeliveryResult {
  mode: "quick" | "full";
  vms: number;
  /** The CRD defaults the runs used (events and VES sink). */
  defaults: DeliveryDefaults;
  /** Retry settings of the outage run (shortened from the defaults). */
  replayRetry: { initialBackoff: string; maxBackoff: string };
  /** JSON size of one event of each kind. */
  eventBytes: { vm: number; host: number; heartbeat: number };
  throughput: ThroughputRun[];
  replay: ReplayRun;
}

const PLANS = {
  quick: { burstIntervals: 30, repetitions: 1, outageSeconds: 600 },
  full: { burstIntervals: 60, repetitions: 3, outageSeconds: 3600 },
} as const;
const VMS = 100;
const WARMUP_INTERVALS = 2;
const REPLAY_RETRY = { initialBackoff: "10ms", maxBackoff: "100ms" };
const ID = /"eventId":"([a-z]+)(\d+)"/;

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const clock = () => performance.timeOrigin + performance.now();

/** The CRD's defaults for a profile with one VES sink, from the real validator. */
function crdDefaults(): { events: EventSettings; spec: VesSink } {
  const r = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name: "bench" },
    spec: {
      collectors: [{ name: "cpu", interval: "10s" }],
      sinks: [{ name: "ves", ves: { url: "http://127.0.0.1:9" } }],
    },
  });
  if (!r.ok) throw new Error(`bench profile refused: ${JSON.stringify(r.errors)}`);
  const spec = r.value.spec.sinks[0]?.ves;
  if (!spec) throw new Error("bench profile lost its VES sink");
  return { events: r.value.spec.events, spec };
}

/** A child process whose stdout is read as lines and stderr goes to a log file. */
class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly log: string;
  readonly exited: Promise<number | null>;
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  #gone = false;

  constructor(name: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env) {
    this.name = name;
    this.log = log;
    const fd = openSync(log, "a");
    this.proc = spawn(process.execPath, args, { stdio: ["pipe", "pipe", fd], env });
    closeSync(fd);
    this.exited = new Promise((resolve) =>
      this.proc.once("exit", (code) => {
        this.#gone = true;
        this.#wake?.();
        resolve(code);
      }),
    );
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      this.#lines.push(line);
      this.#wake?.();
    });
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  /** The next stdout line, within `ms`. */
  async line(ms: number, what: string): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.#lines.length === 0) {
      if (this.#gone) throw await this.#fail(`exited before ${what}`);
      if (Date.now() > deadline) throw await this.#fail(`no ${what} within ${ms / 1000} s`);
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 200);
      });
      this.#wake = undefined;
    }
    return this.#lines.shift()!;
  }

  /** The next JSON message from a sender, which must be of `type`. */
  async message<T>(type: string, ms: number): Promise<T> {
    const msg = JSON.parse(await this.line(ms, `"${type}"`)) as { type: string; error?: string };
    if (msg.type !== type) throw await this.#fail(`expected "${type}", got ${JSON.stringify(msg)}`);
    return msg as T;
  }

  /** Writes a line to its stdin, waiting while the pipe is full. */
  async send(line: string): Promise<void> {
    const stdin = this.proc.stdin;
    if (stdin && !stdin.write(`${line}\n`)) await once(stdin, "drain");
  }

  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  async stop(): Promise<void> {
    if (this.#gone) return;
    await terminate(this.proc, 5000);
  }

  async #fail(what: string): Promise<Error> {
    const tail = (await readFile(this.log, "utf8").catch(() => "")).slice(-2000);
    return new Error(`${this.name} ${what}${tail ? `; its log ends:\n${tail}` : ""}`);
  }
}

async function stats(url: string): Promise<StatsSnapshot> {
  return (await (await fetch(`${url}/control/stats`)).json()) as StatsSnapshot;
}

async function segments(dir: string): Promise<{ files: number; apparent: number; disk: number }> {
  const out = { files: 0, apparent: 0, disk: 0 };
  for (const f of await readdir(dir)) {
    if (!f.endsWith(".vrec")) continue;
    const s = await stat(join(dir, f));
    out.files++;
    out.apparent += s.size;
    out.disk += s.blocks * 512;
  }
  return out;
}

/**
 * Measures delivery with the agent's real VesSinkRunner (in a child process) and a real vesmon-listener
 * process: burst throughput with schema and envelope-only validation, then an outage of 10 minutes (quick) or
 * an hour of events for 100 VMs and the host spooled while the listener is down, and their replay.
 */
export async function measureDelivery(opts: {
  root: string;
  quick: boolean;
  log: (l: string) => void;
}): Promise<DeliveryResult> {
  const plan = opts.quick ? PLANS.quick : PLANS.full;
  const { events, spec } = crdDefaults();
  const intervalSeconds = parseDuration(events.measurementInterval) / 1000;
  const beatSeconds = parseDuration(events.heartbeatInterval) / 1000;
  const sample = [
    ...new EventFeed(events, 1).advance(Math.max(intervalSeconds, beatSeconds)),
  ].flat() as VesEvent[];
  const sizeOf = (pick: (h: VesEvent["commonEventHeader"]) => boolean) =>
    JSON.stringify(sample.find((e) => pick(e.commonEventHeader)) ?? "").length;
  const dir = await mkdtemp(join(tmpdir(), "vesmon-bench-delivery-"));
  const children = new Set<Child>();
  const listenerMain = join(opts.root, "agent/listener/main.ts");
  const senderMain = join(opts.root, "bench/delivery-sender.ts");
  const quietEnv = { ...process.env, LISTENER_LOG_LEVEL: "warn" };

  const startListener = async (name: string, port: number, flags: string[]) => {
    const child = new Child(
      name,
      [listenerMain, "--port", String(port), "--max-events", "0", ...flags],
      join(dir, `${name}.log`),
      quietEnv,
    );
    children.add(child);
    const url = (await child.line(60_000, "its URL")).trim();
    return { child, url, up: clock() };
  };
  const startSender = (name: string, cfg: SenderConfig) => {
    const child = new Child(name, [senderMain, JSON.stringify(cfg)], join(dir, `${name}.log`));
    children.add(child);
    return child;
  };
  const finish = async (child: Child) => {
    await child.stop();
    children.delete(child);
  };
  const cleanup = async () => {
    for (const c of children) await c.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  // An interrupted run must not leave a listener or a sender behind.
  // Synchronously, so that the measurement, seeing its children die, cannot report a failure first.
  const onSignal = () => {
    for (const c of children) c.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    const throughput: ThroughputRun[] = [];
    for (let rep = 1; rep <= plan.repetitions; rep++)
      for (const validation of ["schema", "envelope"] as const) {
        const name = `burst-${validation}-${rep}`;
        opts.log(`delivery: ${name}`);
        const listener = await startListener(
          `${name}-listener`,
          0,
          validation === "envelope" ? ["--envelope-only"] : [],
        );
        const sender = startSender(`${name}-sender`, {
          mode: "throughput",
          url: listener.url,
          spoolDir: join(dir, name),
          spec: { ...spec, url: listener.url },
          events,
          vms: VMS,
          seconds: plan.burstIntervals * intervalSeconds,
          warmupSeconds: WARMUP_INTERVALS * intervalSeconds,
        });
        await sender.message("warm", 300_000);
        const s0 = await stats(listener.url);
        const l0 = await cpuSeconds(listener.child.pid);
        await sender.send("go");
        const done = await sender.message<{
          events: number;
          seconds: number;
          cpuMs: number;
          requests: number;
          bodyBytes: number;
        }>("done", 600_000);
        const l1 = await cpuSeconds(listener.child.pid);
        const s1 = await stats(listener.url);
        await sender.send("quit");
        await sender.message("closed", 60_000);
        await finish(sender);
        await finish(listener.child);
        const answers = (s: StatsSnapshot) => Object.values(s.responses).reduce((a, b) => a + b, 0);
        const ok = (s1.responses["202"] ?? 0) - (s0.responses["202"] ?? 0);
        throughput.push({
          validation,
          repetition: rep,
          events: done.events,
          seconds: round(done.seconds, 2),
          eventsPerSecond: Math.round(done.events / done.seconds),
          mbPerSecond: round(done.bodyBytes / 1e6 / done.seconds, 2),
          requests: done.requests,
          eventsPerRequest: round(done.events / done.requests),
          senderCpuMsPer1000: round((done.cpuMs * 1000) / done.events),
          listenerCpuMsPer1000: round(((l1 - l0) * 1e6) / done.events),
          accepted: s1.accepted - s0.accepted,
          refusedRequests: answers(s1) - answers(s0) - ok,
        });
      }

    opts.log(`delivery: outage of ${plan.outageSeconds} s of events, listener down`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const spoolDir = join(dir, "outage");
    const sender = startSender("outage-sender", {
      mode: "outage",
      url,
      spoolDir,
      spec: { ...spec, url, retry: REPLAY_RETRY },
      events,
      vms: VMS,
      seconds: plan.outageSeconds,
      warmupSeconds: 0,
    });
    // The events are built here and streamed to the sender, so that its memory is the sink's alone.
    const feed = new EventFeed(events, VMS);
    const emissions = feed.advance(plan.outageSeconds);
    let payloadBytes = 0;
    let buildMs = 0;
    for (;;) {
      const b0 = clock();
      const next = emissions.next();
      if (next.done) break;
      const line = JSON.stringify(next.value);
      buildMs += clock() - b0;
      payloadBytes += Buffer.byteLength(line) - 2 - (next.value.length - 1);
      await sender.send(line);
    }
    await sender.send("end");
    const written = await sender.message<{
      events: number;
      writeMs: number;
      writeCpuMs: number;
      peakWriteRssMiB: number;
      status: SinkState;
    }>("written", 900_000);
    const disk = await segments(spoolDir);
    const rssBefore = await rssMiB(sender.pid);
    // Resets VmHWM to the current RSS, so the peak read later is the replay's own.
    const peakMethod = await writeFile(`/proc/${sender.pid}/clear_refs`, "5").then(
      () => "VmHWM" as const,
      () => "sampled" as const,
    );
    const c0 = await cpuSeconds(sender.pid);
    opts.log("delivery: starting the listener, draining the spool");
    const recordFile = join(dir, "received.jsonl");
    const listener = await startListener("outage-listener", port, ["--record", recordFile]);
    const l0 = await cpuSeconds(listener.child.pid);
    const drained = await sender.message<{
      at: number;
      first?: { at: number; delivered: number };
      sampledPeakRssMiB: number;
      requests: number;
      bodyBytes: number;
      status: SinkState;
    }>("drained", 1_800_000);
    const c1 = await cpuSeconds(sender.pid);
    const l1 = await cpuSeconds(listener.child.pid);
    const hwm = (await rssMiB(sender.pid)).peak;
    const s = await stats(listener.url);
    const after = await segments(spoolDir);
    await sender.send("quit");
    await sender.message("closed", 60_000);
    await finish(sender);
    await finish(listener.child);

    // Every eventId the listener recorded, checked against what was written: once each, in order per domain.
    const seen = new Map<string, number[]>();
    let received = 0;
    for (const line of (await readFile(recordFile, "utf8")).split("\n")) {
      const m = ID.exec(line);
      if (!m) continue;
      received++;
      const list = seen.get(m[1]!) ?? [];
      list.push(Number(m[2]));
      seen.set(m[1]!, list);
    }
    const expected = { measurement: feed.measurementIds.last, heartbeat: feed.heartbeatIds.last };
    let unique = 0;
    let missing = 0;
    let inOrder = true;
    for (const [domain, last] of Object.entries(expected)) {
      const ids = seen.get(domain) ?? [];
      const set = new Set(ids);
      unique += set.size;
      for (let i = 1; i <= last; i++) if (!set.has(i)) missing++;
      if (ids.some((id, i) => i > 0 && id <= ids[i - 1]!)) inOrder = false;
    }
    const drainSeconds = (drained.at - listener.up) / 1000;
    const written0 = written.events;
    const replay: ReplayRun = {
      simulatedSeconds: plan.outageSeconds,
      events: written0,
      measurementEvents: feed.measurementIds.last,
      heartbeatEvents: feed.heartbeatIds.last,
      payloadBytes,
      spoolFiles: disk.files,
      spoolDiskBytes: disk.disk,
      spoolApparentBytes: disk.apparent,
      buildSeconds: round(buildMs / 1000, 2),
      writeSeconds: round(written.writeMs / 1000, 2),
      writeCpuMsPer1000: round((written.writeCpuMs * 1000) / written0),
      retriesWhileDown: written.status.retries,
      peakWriteRssMiB: round(written.peakWriteRssMiB),
      firstAcceptSeconds: round(((drained.first?.at ?? drained.at) - listener.up) / 1000, 2),
      drainSeconds: round(drainSeconds, 2),
      eventsPerSecond: Math.round(written0 / drainSeconds),
      steadyEventsPerSecond: drained.first
        ? Math.round((written0 - drained.first.delivered) / ((drained.at - drained.first.at) / 1000))
        : 0,
      mbPerSecond: round(drained.bodyBytes / 1e6 / drainSeconds, 2),
      requests: drained.requests,
      eventsPerRequest: round(written0 / drained.requests),
      senderCpuMsPer1000: round(((c1 - c0) * 1e6) / written0),
      listenerCpuMsPer1000: round(((l1 - l0) * 1e6) / written0),
      senderRssBeforeMiB: round(rssBefore.now),
      senderPeakRssMiB: round(peakMethod === "VmHWM" ? hwm : drained.sampledPeakRssMiB),
      peakMethod,
      accepted: s.accepted,
      received,
      duplicates: received - unique,
      missing,
      inOrder,
      droppedBySink: drained.status.dropped,
      spoolFilesAfterDrain: after.files,
      spoolApparentBytesAfterDrain: after.apparent,
    };
    return {
      mode: opts.quick ? "quick" : "full",
      vms: VMS,
      defaults: {
        measurementInterval: events.measurementInterval,
        heartbeatInterval: events.heartbeatInterval,
        batchMaxEvents: spec.batch.maxEvents,
        batchMaxBytes: String(spec.batch.maxBytes),
        timeout: spec.timeout,
        bufferMaxBytes: String(spec.buffer.maxBytes),
        bufferMaxAge: spec.buffer.maxAge,
        initialBackoff: spec.retry.initialBackoff,
        maxBackoff: spec.retry.maxBackoff,
      },
      replayRetry: REPLAY_RETRY,
      eventBytes: {
        vm: sizeOf((h) => h.domain === "measurement" && h.sourceId !== undefined),
        host: sizeOf((h) => h.domain === "measurement" && h.sourceId === undefined),
        heartbeat: sizeOf((h) => h.domain === "heartbeat"),
      },
      throughput,
      replay,
    };
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const result = await measureDelivery({
    root,
    quick: process.argv.includes("--quick"),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(deliveryMarkdown(result));
}
