// The sending side of the delivery benchmark (bench/delivery.ts), in a process of its own so that its CPU and
// memory are measured apart from the listener's and the driver's: the agent's real VesSinkRunner (spool and
// HTTP transport) fed with measurement and heartbeat events built by the agent's real builders.
// `node bench/delivery-sender.ts '<SenderConfig as JSON>'`: reports JSON lines on stdout, reads events and
// `go`/`end`/`quit` lines on stdin, and exits when stdin closes (the driver died).

import { createInterface } from "node:readline";
import type { Sample, Source } from "../agent/collectors/sample.ts";
import { HttpTransport, type Transport } from "../agent/sinks/http-transport.ts";
import { VesSinkRunner } from "../agent/sinks/ves-sink.ts";
import { buildHeartbeat } from "../agent/ves/heartbeat.ts";
import { EventIdSequence } from "../agent/ves/ids.ts";
import { buildMeasurementEvents } from "../agent/ves/measurement.ts";
import { parseDuration } from "../api/duration.ts";
import type { EventSettings, VesSink } from "../api/v1alpha1/types.ts";
import { hostCollection, vmCollection } from "../test/helpers/ves-samples.ts";

/** What the driver asks of one sender process. */
export interface SenderConfig {
  /**
   * `throughput`: a burst of events built here, to a listener that is up. `outage`: events read from stdin
   * (one JSON array per line, then `end`) are spooled while the listener is down, then drained.
   */
  mode: "throughput" | "outage";
  url: string;
  spoolDir: string;
  /** The sink spec, CRD defaults applied. */
  spec: VesSink;
  /** The profile's event settings, CRD defaults applied. */
  events: EventSettings;
  vms: number;
  /** Simulated seconds of events to send, timed, and before that for warm-up (throughput only). */
  seconds: number;
  warmupSeconds: number;
}

/** The collection interval of the synthetic samples, as in examples/profiles/nfvi.yaml. */
const COLLECTION_MS = 10_000;
const NODE = "compute-0";

/**
 * Produces what a profile pipeline would emit for a host and `vms` VMs: at each measurement boundary one
 * measurement event per source (built from that window's synthetic collections), at each heartbeat boundary
 * a heartbeat; one array per pipeline emission, in emission order, with advancing timestamps.
 */
export class EventFeed {
  readonly measurementIds = new EventIdSequence("measurement");
  readonly heartbeatIds = new EventIdSequence("heartbeat");
  readonly #settings: EventSettings;
  readonly #sources: Source[];
  readonly #measureMs: number;
  readonly #beatMs: number;
  readonly #start = Date.UTC(2026, 10, 22, 12, 0, 0);
  #elapsedMs = 0;

  constructor(settings: EventSettings, vms: number) {
    this.#settings = settings;
    this.#measureMs = parseDuration(settings.measurementInterval);
    this.#beatMs = parseDuration(settings.heartbeatInterval);
    this.#sources = Array.from({ length: vms }, (_, i) => ({
      kind: "vm",
      name: `vm-${String(i).padStart(3, "0")}`,
      uuid: `6f1c2d3e-0000-4000-8000-${String(i).padStart(12, "0")}`,
    }));
  }

  /** The emissions of the next `seconds` simulated seconds. */
  *advance(seconds: number): Generator<object[]> {
    const end = this.#elapsedMs + seconds * 1000;
    const step = gcd(this.#measureMs, this.#beatMs);
    for (let t = this.#elapsedMs + step; t <= end; t += step) {
      // Both timers fire on the same boundary in the pipeline; the measurement timer is armed first.
      if (t % this.#measureMs === 0) yield this.#measurements(t);
      if (t % this.#beatMs === 0)
        yield [
          buildHeartbeat({
            time: this.#start + t,
            intervalSeconds: Math.max(1, Math.round(this.#beatMs / 1000)),
            settings: this.#settings,
            node: NODE,
            version: this.#settings.vesVersion,
            eventId: this.heartbeatIds.next(),
          }),
        ];
    }
    this.#elapsedMs = end;
  }

  #measurements(t: number): object[] {
    const per = Math.max(1, Math.round(this.#measureMs / COLLECTION_MS));
    const first = (t / this.#measureMs - 1) * per;
    const samples: Sample[] = [];
    for (let i = first; i < first + per; i++) {
      samples.push(...hostCollection(i));
      for (const vm of this.#sources) samples.push(...vmCollection(vm, i));
    }
    return buildMeasurementEvents({
      samples,
      windowStart: this.#start + t - this.#measureMs,
      windowEnd: this.#start + t,
      intervalSeconds: this.#measureMs / 1000,
      settings: this.#settings,
      node: NODE,
      version: this.#settings.vesVersion,
      nextId: () => this.measurementIds.next(),
    });
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const send = (msg: object) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const now = () => performance.timeOrigin + performance.now();
const rssMiB = () => process.memoryUsage.rss() / 2 ** 20;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function main(cfg: SenderConfig): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  let quitting = false;
  process.stdin.on("close", () => {
    if (!quitting) process.exit(1);
  });
  const command = async (want: string) => {
    const { value, done } = await lines.next();
    if (done || value.trim() !== want) throw new Error(`expected "${want}" on stdin, got ${value}`);
  };

  // The real transport, counted: what reached the collector and was accepted, in requests and body bytes.
  const http = new HttpTransport();
  const wire = { requests: 0, bytes: 0 };
  const transport: Transport = {
    async post(url, body, timeoutMs) {
      const result = await http.post(url, body, timeoutMs);
      if (result.status === "success") {
        wire.requests++;
        wire.bytes += body.length;
      }
      return result;
    },
    close: () => http.close(),
  };
  const sink = await VesSinkRunner.open({
    name: "bench",
    spec: cfg.spec,
    vesVersion: cfg.events.vesVersion,
    spoolDir: cfg.spoolDir,
    transport,
  });
  const until = async (check: () => boolean, each?: () => void) => {
    while (!check()) {
      each?.();
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const drained = (n: number) => () => sink.status().delivered >= n && sink.status().queued === 0;

  if (cfg.mode === "throughput") {
    const feed = new EventFeed(cfg.events, cfg.vms);
    let warm = 0;
    for (const events of feed.advance(cfg.warmupSeconds)) {
      sink.enqueue(events);
      warm += events.length;
    }
    // Built before the clock starts: the builders are not part of delivery.
    const burst = [...feed.advance(cfg.seconds)];
    const count = burst.reduce((n, e) => n + e.length, 0);
    await until(drained(warm));
    send({ type: "warm", events: warm });
    await command("go");
    const requests0 = wire.requests;
    const bytes0 = wire.bytes;
    const t0 = now();
    const cpu0 = cpuMs();
    for (const events of burst) sink.enqueue(events);
    await until(drained(warm + count));
    const t1 = now();
    send({
      type: "done",
      events: count,
      seconds: (t1 - t0) / 1000,
      cpuMs: cpuMs() - cpu0,
      requests: wire.requests - requests0,
      bodyBytes: wire.bytes - bytes0,
      status: sink.status(),
    });
  } else {
    // The driver builds the events and streams them, one emission per line, so that the builders' garbage
    // stays out of this process and its memory is the sink's.
    let events = 0;
    let writeMs = 0;
    let writeCpuMs = 0;
    let peakWriteRss = rssMiB();
    for (;;) {
      const { value: line, done } = await lines.next();
      if (done) throw new Error("stdin closed while spooling");
      if (line === "end") break;
      const batch = JSON.parse(line) as object[];
      const w0 = now();
      const cpu0 = cpuMs();
      sink.enqueue(batch);
      await sink.flushed();
      writeMs += now() - w0;
      writeCpuMs += cpuMs() - cpu0;
      events += batch.length;
      peakWriteRss = Math.max(peakWriteRss, rssMiB());
    }
    send({
      type: "written",
      events,
      writeMs,
      writeCpuMs,
      peakWriteRssMiB: peakWriteRss,
      status: sink.status(),
    });
    let first: { at: number; delivered: number } | undefined;
    let peakRss = rssMiB();
    await until(drained(events), () => {
      peakRss = Math.max(peakRss, rssMiB());
      const delivered = sink.status().delivered;
      if (!first && delivered > 0) first = { at: now(), delivered };
    });
    send({
      type: "drained",
      at: now(),
      first,
      sampledPeakRssMiB: peakRss,
      requests: wire.requests,
      bodyBytes: wire.bytes,
      status: sink.status(),
    });
  }
  await command("quit");
  quitting = true;
  await sink.close();
  send({ type: "closed", status: sink.status() });
}

if (import.meta.main) {
  await main(JSON.parse(process.argv[2] ?? "{}") as SenderConfig).catch((err: Error) => {
    send({ type: "error", error: err.stack ?? String(err) });
    process.exit(1);
  });
  process.exit(0);
}
