import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { ListenerProcess } from "../agent/listener/process.ts";
import type { RecordedEvent } from "../agent/listener/recorder.ts";
import { freePort, terminate } from "./proc.ts";
import { AGENT_RUNTIME, builtEntry, SETTLED_AFTER_SECONDS } from "./setup.ts";

/** What every peer is started with: the private libvirtd, a scratch directory and the receiving side. */
export interface PeerContext {
  root: string;
  dir: string;
  intervalSeconds: number;
  /** libvirtd's read-write and read-only sockets. */
  socket: string;
  roSocket: string;
  /** The VES listener the agent delivers to. */
  listener: ListenerProcess;
  /** The HTTP sink collectd's write_http posts JSON to. */
  collectdSink: CollectdSink;
}

/** What a peer reported over a window. */
export interface WindowValues {
  /** Collection cycles the window held (interval-driven peers) or scrapes completed (exporters). */
  cycles: number;
  /** Values the peer reported per cycle; see `valuesNote`. */
  valuesPerCycle: number;
  valuesNote: string;
}

/** A started peer. */
export interface RunningPeer {
  /** The peer's own processes, whose CPU and RSS are counted. */
  readonly processes: readonly { name: string; pid: number }[];
  /** Forgets what was reported so far; called at the start of the window. */
  startWindow(): void;
  /** What was reported since `startWindow`, over `seconds` of wall time. */
  endWindow(seconds: number): Promise<WindowValues>;
  stop(): Promise<void>;
}

/** One peer of the comparison. */
export interface Peer {
  name: string;
  /** Seconds between start and the window. */
  warmupSeconds: number;
  /**
   * Seconds after the start by which the peer's RSS has stopped climbing, where that takes longer than the
   * warm-up; a plan that reads settled memory waits this long instead.
   */
  settleSeconds?: number;
  start(ctx: PeerContext): Promise<RunningPeer>;
}

function launch(
  command: string,
  args: readonly string[],
  log: string,
  env?: NodeJS.ProcessEnv,
): ChildProcess {
  const out = createWriteStream(log);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return child;
}

/** Receives collectd's write_http JSON and counts the values in it; its own CPU is not counted. */
export class CollectdSink {
  readonly #server: Server;
  #values = 0;
  #posts = 0;
  #port = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.#posts++;
        try {
          const lists = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { values?: unknown[] }[];
          for (const list of lists) this.#values += list.values?.length ?? 0;
        } catch {
          // A body we cannot read counts as a POST without values; collectd's format is fixed, so this is rare.
        }
        res.writeHead(200).end();
      });
    });
  }

  /** URL write_http posts to. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}/collectd`;
  }

  async start(): Promise<void> {
    this.#server.listen(0, "127.0.0.1");
    await once(this.#server, "listening");
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** Values and POSTs received since the last reset. */
  take(): { values: number; posts: number } {
    const r = { values: this.#values, posts: this.#posts };
    this.#values = 0;
    this.#posts = 0;
    return r;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, "close").catch(() => {});
  }
}

/** Numbers in measurementFields, plus the entries of additionalMeasurements' hashMaps (VES carries those as strings). */
export function countMeasurementValues(fields: unknown, key = ""): number {
  if (typeof fields === "number") return key === "measurementInterval" ? 0 : 1;
  if (Array.isArray(fields)) return fields.reduce<number>((n, f) => n + countMeasurementValues(f), 0);
  if (fields === null || typeof fields !== "object") return 0;
  let n = 0;
  for (const [k, v] of Object.entries(fields))
    n +=
      k === "hashMap" && v !== null && typeof v === "object"
        ? Object.keys(v).length
        : countMeasurementValues(v, k);
  return n;
}

interface MeasurementEvent {
  commonEventHeader?: { domain?: string; startEpochMicrosec?: number };
  measurementFields?: unknown;
}

/** The vesmon agent as a process: host collectors and virt at the interval, VES to the in-process listener. */
export const vesmonAgent: Peer = {
  name: "vesmon agent",
  // Node start, the first apply and a libvirt connection take a few seconds on 2 cores.
  warmupSeconds: 10,
  settleSeconds: SETTLED_AFTER_SECONDS,
  async start(ctx) {
    const interval = `${ctx.intervalSeconds}s`;
    // The CRD's floor for measurementInterval is 5 s; the collectors still sample at the peers' interval.
    const measurementSeconds = Math.max(5, ctx.intervalSeconds);
    const profile = join(ctx.dir, "agent-profile.yaml");
    await writeFile(
      profile,
      `apiVersion: vesmon.io/v1alpha1
kind: MonitoringProfile
metadata:
  name: bench
spec:
  collectors:
    - { name: cpu, interval: ${interval} }
    - { name: memory, interval: ${interval} }
    - { name: interface, interval: ${interval} }
    - { name: disk, interval: ${interval} }
    - name: virt
      interval: ${interval}
      libvirt:
        socket: ${ctx.roSocket}
        uri: qemu:///system
  events:
    measurementInterval: ${measurementSeconds}s
    heartbeatInterval: 60s
  sinks:
    - name: ves
      ves:
        url: ${ctx.listener.url}
        timeout: 5s
`,
    );
    const child = launch(
      process.execPath,
      [
        ...AGENT_RUNTIME.nodeFlags,
        builtEntry(ctx.root, "agent/main"),
        "--profile",
        profile,
        "--state-dir",
        join(ctx.dir, "agent-state"),
        "--listen",
        "",
        "--node-name",
        "bench",
      ],
      join(ctx.dir, "agent.log"),
      { ...process.env, ...AGENT_RUNTIME.env, AGENT_LOG_LEVEL: "warn" },
    );
    const clear = () => void ctx.listener.app.inject({ method: "DELETE", url: "/control/events" });
    return {
      processes: [{ name: "node (agent)", pid: child.pid ?? -1 }],
      startWindow: clear,
      async endWindow(seconds) {
        const r = await ctx.listener.app.inject({ method: "GET", url: "/control/events" });
        const events = (r.json() as { events: RecordedEvent[] }).events.map(
          (e) => e.event as MeasurementEvent,
        );
        // One event per source per measurement interval; a set at the window's edge may be partly outside it,
        // so the fullest set is the one to count.
        const perSet = new Map<number, number>();
        for (const e of events) {
          if (e.commonEventHeader?.domain !== "measurement") continue;
          // A source's window starts at its own read, just after the boundary: sets are keyed by the boundary.
          const start = Math.floor(
            (e.commonEventHeader.startEpochMicrosec ?? 0) / (measurementSeconds * 1e6),
          );
          perSet.set(start, (perSet.get(start) ?? 0) + countMeasurementValues(e.measurementFields));
        }
        const valuesPerSet = Math.max(0, ...perSet.values());
        return {
          cycles: seconds / ctx.intervalSeconds,
          valuesPerCycle: valuesPerSet,
          valuesNote: `VES measurementFields values per ${measurementSeconds} s event set (one event per VM and the host, aggregating ${measurementSeconds / ctx.intervalSeconds} samples)`,
        };
      },
      stop: () => terminate(child),
    };
  },
};

/** collectd 5.12 from Debian: virt, cpu, memory, interface, disk, write_http JSON to the sink. */
export const collectd: Peer = {
  name: "collectd",
  // Includes the virt plugin's first domain refresh.
  warmupSeconds: 10,
  async start(ctx) {
    const conf = join(ctx.dir, "collectd.conf");
    await writeFile(
      conf,
      `Hostname "bench"
FQDNLookup false
BaseDir "${ctx.dir}"
PIDFile "${join(ctx.dir, "collectd.pid")}"
Interval ${ctx.intervalSeconds}
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "${join(ctx.dir, "collectd-plugin.log")}"
</Plugin>
LoadPlugin cpu
LoadPlugin memory
LoadPlugin interface
LoadPlugin disk
LoadPlugin virt
LoadPlugin write_http
<Plugin virt>
  Connection "qemu+unix:///system?socket=${ctx.socket}"
  RefreshInterval 60
  HostnameFormat name
  ExtraStats "cpu_util disk disk_err domain_state job_stats_background pcpu perf vcpupin vcpu memory disk_allocation disk_capacity disk_physical"
</Plugin>
<Plugin write_http>
  <Node "sink">
    URL "${ctx.collectdSink.url}"
    Format "JSON"
    StoreRates false
  </Node>
</Plugin>
`,
    );
    const child = launch("collectd", ["-f", "-C", conf], join(ctx.dir, "collectd.log"));
    return {
      processes: [{ name: "collectd", pid: child.pid ?? -1 }],
      startWindow: () => void ctx.collectdSink.take(),
      async endWindow(seconds) {
        const cycles = seconds / ctx.intervalSeconds;
        const got = ctx.collectdSink.take();
        return {
          cycles,
          valuesPerCycle: got.values / cycles,
          valuesNote: `values in write_http JSON bodies per cycle (${(got.posts / cycles).toFixed(1)} POSTs per cycle)`,
        };
      },
      stop: () => terminate(child),
    };
  },
};

function seriesLines(body: string): number {
  let n = 0;
  for (const line of body.split("\n")) if (line !== "" && !line.startsWith("#")) n++;
  return n;
}

/** prometheus-libvirt-exporter and prometheus-node-exporter from Debian, both scraped every interval. */
export const exporters: Peer = {
  name: "libvirt-exporter + node-exporter",
  warmupSeconds: 5,
  async start(ctx) {
    const [lvPort, nodePort] = [await freePort(), await freePort()];
    // The exporter opens libvirt read-write (libvirt-go NewConnect), so it needs the read-write socket.
    const lvExporter = launch(
      "prometheus-libvirt-exporter",
      [`--web.listen-address=127.0.0.1:${lvPort}`, `--libvirt.uri=qemu+unix:///system?socket=${ctx.socket}`],
      join(ctx.dir, "libvirt-exporter.log"),
    );
    const nodeExporter = launch(
      "prometheus-node-exporter",
      [`--web.listen-address=127.0.0.1:${nodePort}`],
      join(ctx.dir, "node-exporter.log"),
    );
    const urls = [`http://127.0.0.1:${lvPort}/metrics`, `http://127.0.0.1:${nodePort}/metrics`];
    let scrapes = 0;
    let lines = 0;
    let failures = 0;
    let running = true;
    const scrapeOnce = async () => {
      const bodies = await Promise.all(
        urls.map((u) =>
          fetch(u, { signal: AbortSignal.timeout(ctx.intervalSeconds * 5000) }).then((r) =>
            r.ok ? r.text() : Promise.reject(new Error(`HTTP ${r.status}`)),
          ),
        ),
      );
      scrapes++;
      for (const b of bodies) lines += seriesLines(b);
    };
    // Ticks aligned to the interval, as Prometheus scrapes; a scrape longer than the interval skips ticks.
    const loop = (async () => {
      const step = ctx.intervalSeconds * 1000;
      let next = Date.now();
      while (running) {
        await scrapeOnce().catch(() => failures++);
        next += step;
        while (next < Date.now()) next += step;
        await new Promise((r) => setTimeout(r, next - Date.now()));
      }
    })();
    return {
      processes: [
        { name: "libvirt-exporter", pid: lvExporter.pid ?? -1 },
        { name: "node-exporter", pid: nodeExporter.pid ?? -1 },
      ],
      startWindow() {
        scrapes = 0;
        lines = 0;
        failures = 0;
      },
      async endWindow() {
        return {
          cycles: scrapes,
          valuesPerCycle: scrapes ? lines / scrapes : 0,
          valuesNote: `series lines per scrape of both exporters${failures ? ` (${failures} failed scrapes)` : ""}`,
        };
      },
      async stop() {
        running = false;
        await loop;
        await Promise.all([terminate(lvExporter), terminate(nodeExporter)]);
      },
    };
  },
};
