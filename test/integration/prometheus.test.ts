import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, terminate } from "../../bench/proc.ts";
import { FakeApiServer } from "../fake-apiserver/index.ts";
import { startTinyGuests, type TinyGuests } from "../helpers/guests.ts";
import { type Libvirtd, startLibvirtd } from "../helpers/libvirtd.ts";
import { promtool } from "../helpers/promtool.ts";

// Both programs' /metrics as Prometheus sees them: Debian's promtool lints each exposition, then a real
// Prometheus scrapes the agent (host collectors and the virt collector on a tiny TCG guest, behind a
// prometheus sink) and the operator (against the fake API server) every second and answers PromQL.
const NS = "vesmon-system";
let api: FakeApiServer;
let lv: Libvirtd;
let guests: TinyGuests;
let vmName: string;
let dir: string;
let agentUrl: string;
let operatorUrl: string;
let promUrl: string;
const procs: { name: string; proc: ChildProcess; stderr: string }[] = [];

function run(name: string, command: string, args: readonly string[]): void {
  const proc = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  const entry = { name, proc, stderr: "" };
  proc.stderr?.on("data", (c: Buffer) => {
    entry.stderr = (entry.stderr + c.toString()).slice(-4000);
  });
  procs.push(entry);
}
const node = (script: string, args: string[]) =>
  [process.execPath, [join(import.meta.dirname, "../..", script), ...args]] as const;

async function until<T>(probe: () => Promise<T | undefined>, what: string, ms = 40_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}\n${procs.map((p) => `--- ${p.name}\n${p.stderr}`).join("\n")}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

const scrape = async (url: string) => {
  const r = await fetch(`${url}/metrics`);
  if (!r.ok) throw new Error(`${url}/metrics: ${r.status}`);
  return r.text();
};

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}
async function query(promql: string): Promise<Series[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await r.json()) as { status: string; error?: string; data?: { result: Series[] } };
  if (body.status !== "success") throw new Error(`${promql}: ${body.error}`);
  return body.data?.result ?? [];
}
const nonEmpty = (promql: string) => async () => {
  const r = await query(promql);
  return r.length ? r : undefined;
};

const profile = (socket: string) => `apiVersion: vesmon.io/v1alpha1
kind: MonitoringProfile
metadata: {name: scraped}
spec:
  collectors:
    - {name: cpu, interval: 1s}
    - {name: memory, interval: 1s}
    - {name: load, interval: 1s}
    - {name: disk, interval: 1s}
    - {name: interface, interval: 1s}
    - {name: virt, interval: 1s, libvirt: {socket: ${socket}, uri: "qemu:///system", timeout: 2s}}
  events: {measurementInterval: 5s, heartbeatInterval: 5s}
  sinks:
    - {name: scrape, prometheus: {}}
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vesmon-prom-"));
  api = new FakeApiServer();
  await api.start();
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, api.kubeConfig().exportConfig());
  api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  api.create({ apiVersion: "v1", kind: "Node", metadata: { name: "worker-1" } });
  api.create({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name: "fleet" },
    spec: { collectors: [{ name: "load", interval: "10s" }], sinks: [{ name: "out", stdout: {} }] },
  });
  lv = await startLibvirtd({ qemu: true });
  guests = await startTinyGuests(lv, 1, `vp${process.pid % 1000}`);
  vmName = guests.guests[0]!.name;
  const profileFile = join(dir, "profile.yaml");
  await writeFile(profileFile, profile(lv.roSocket));
  const [agentPort, operatorPort, promPort] = [await freePort(), await freePort(), await freePort()];
  agentUrl = `http://127.0.0.1:${agentPort}`;
  operatorUrl = `http://127.0.0.1:${operatorPort}`;
  promUrl = `http://127.0.0.1:${promPort}`;
  run(
    "agent",
    ...node("agent/main.ts", [
      "--profile",
      profileFile,
      "--state-dir",
      join(dir, "state"),
      "--node-name",
      "prom-node",
      "--listen",
      `127.0.0.1:${agentPort}`,
    ]),
  );
  run(
    "operator",
    ...node("operator/main.ts", [
      "--kubeconfig",
      kubeconfig,
      "--namespace",
      NS,
      "--identity",
      "op-a",
      "--listen",
      `127.0.0.1:${operatorPort}`,
    ]),
  );
  const config = join(dir, "prometheus.yml");
  await writeFile(
    config,
    JSON.stringify({
      global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
      scrape_configs: [
        { job_name: "vesmon-agent", static_configs: [{ targets: [`127.0.0.1:${agentPort}`] }] },
        { job_name: "vesmon-operator", static_configs: [{ targets: [`127.0.0.1:${operatorPort}`] }] },
      ],
    }),
  );
  run("prometheus", "prometheus", [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, "tsdb")}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  // Two collections of every collector, the VM among them, and a reconcile that ran.
  await until(async () => {
    const text = await scrape(agentUrl);
    return new RegExp(`^vesmon_vmi_memory_\\w+\\{[^}]*name="${vmName}"`, "m").test(text) &&
      /^vesmon_scrape_collector_collections_total\{[^}]*collector="cpu"[^}]*\} [2-9]/m.test(text)
      ? text
      : undefined;
  }, "the agent's collectors, the VM among them");
  await until(async () => {
    const text = await scrape(operatorUrl);
    return /^vesmon_operator_reconciles_total\{[^}]*result="ok"[^}]*\} [1-9]/m.test(text) ? text : undefined;
  }, "the operator's first reconcile");
}, 90_000);

afterAll(async () => {
  for (const p of procs) await terminate(p.proc, 5_000);
  await guests?.stop();
  await lv?.stop();
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe("Prometheus sees conventional metrics", () => {
  it("the agent's /metrics passes promtool check metrics", async () => {
    const text = await scrape(agentUrl);
    expect(text).toMatch(/^# TYPE vesmon_host_cpu_seconds_total counter$/m);
    expect(text).toMatch(/^# TYPE vesmon_sink_delivered_events_total counter$/m);
    expect(text).not.toMatch(/[{,]job="/);
    expect(await promtool(["check", "metrics"], text)).toEqual({ code: 0, output: "" });
  });

  it("the operator's /metrics passes promtool check metrics", async () => {
    const text = await scrape(operatorUrl);
    expect(text).toMatch(/^# TYPE vesmon_operator_reconciles_total counter$/m);
    expect(await promtool(["check", "metrics"], text)).toEqual({ code: 0, output: "" });
  });

  it("a real Prometheus scrapes both and answers PromQL on them", async () => {
    await until(
      async () => ((await query("count_over_time(up[1m]) >= 2")).length === 2 ? true : undefined),
      "two scrapes of each target",
    );
    expect((await query("up == 1")).map((s) => s.metric.job).sort()).toEqual([
      "vesmon-agent",
      "vesmon-operator",
    ]);
    // A CPU counter: busy CPU seconds per second over the window, between 0 and the CPU count.
    const cpu = await until(
      nonEmpty(
        'sum(rate(vesmon_host_cpu_seconds_total{cpu="total",state!~"idle|iowait|guest|guest_nice"}[5s]))',
      ),
      "a rate of the host CPU counter",
    );
    expect(Number(cpu[0]?.value[1])).toBeGreaterThan(0);
    // The tiny guest's memory as libvirt configured it: 64 MiB.
    const vm = await query(`vesmon_vmi_memory_domain_bytes{name="${vmName}"}`);
    expect(vm).toHaveLength(1);
    expect(vm[0]?.metric).toMatchObject({ job: "vesmon-agent", profile: "scraped" });
    expect(Number(vm[0]?.value[1])).toBe(64 * 1024 * 1024);
    const sink = await query('vesmon_sink_queued_events{profile="scraped",sink="scrape"}');
    expect(sink.map((s) => s.value[1])).toEqual(["0"]);
    const collectors = await query('vesmon_scrape_collector_success{profile="scraped"}');
    expect(collectors.map((s) => s.metric.collector).sort()).toEqual([
      "cpu",
      "disk",
      "interface",
      "load",
      "memory",
      "virt",
    ]);
    const reconciles = await query('sum(vesmon_operator_reconciles_total{job="vesmon-operator"})');
    expect(Number(reconciles[0]?.value[1])).toBeGreaterThan(0);
    expect((await query('vesmon_operator_leader{job="vesmon-operator"}')).map((s) => s.value[1])).toEqual([
      "1",
    ]);
    // The profile's conditions as the operator rolled them up: accepted, not ready (no agent runs it).
    const conditions = await until(
      nonEmpty('vesmon_operator_profile_condition{profile="fleet",condition=~"Accepted|Ready"}'),
      "the fleet profile's conditions",
    );
    expect(Object.fromEntries(conditions.map((s) => [s.metric.condition, s.value[1]]))).toEqual({
      Accepted: "1",
      Ready: "0",
    });
    // No series had its own `job` label, which Prometheus would have renamed.
    expect(await query('{exported_job!=""}')).toEqual([]);
  }, 60_000);
});
