// The operator's memory and writes at fleet scale, against the in-process fake API server (which serves Nodes
// as metadata only, as kube-apiserver does): peak and steady RSS of the operator process (VmHWM, VmRSS), the
// time to converge, and the NodeMonitor writes and time one profile edit costs. The operator runs as its own
// process, from the sources, as `node operator/main.ts`; the fake's memory is this process's, not counted.
//   node test/tools/operator-memory.ts [--nodes 5000] [--idle 10] [--v8 "--max-old-space-size=160 ..."]
//     [--entry dist/operator/main.js]   (the build the image ships, after `npm run build`)
// MALLOC_ARENA_MAX in this process's environment is handed on to the operator, as the chart sets it.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BENCH_NAMESPACE,
  benchNodes,
  benchProfiles,
  benchSecrets,
  CHANGED_PROFILE,
  expectedSelection,
} from "../../bench/operator-scale-fixture.ts";
import { FakeApiServer, type K8sObject } from "../fake-apiserver/index.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const NODES = arg("nodes", 5000);
const IDLE_S = arg("idle", 10);
const ROOT = join(import.meta.dirname, "../..");
const v8At = process.argv.indexOf("--v8");
const entryAt = process.argv.indexOf("--entry");
const ENTRY = entryAt >= 0 ? (process.argv[entryAt + 1] as string) : "operator/main.ts";
const V8_FLAGS = v8At >= 0 ? (process.argv[v8At + 1] ?? "").split(/\s+/).filter(Boolean) : [];

async function kib(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0);
}
const mib = (k: number) => Math.round(k / 1024);
/** CPU seconds (user + system) a process has used: fields 14 and 15 of /proc/<pid>/stat, in clock ticks. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const api = new FakeApiServer();
await api.start();
const dir = await mkdtemp(join(tmpdir(), "vesmon-opmem-"));
const kubeconfig = join(dir, "kubeconfig");
await writeFile(kubeconfig, api.kubeConfig().exportConfig());
api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: BENCH_NAMESPACE } });
for (const s of benchSecrets()) if (s.kind !== "Namespace") api.create(s);
const nodes = benchNodes(NODES);
for (const n of nodes) api.create(n);
const profiles = benchProfiles();
for (const p of profiles) api.create(p);
const selected = expectedSelection(nodes, profiles).size;

let operator: ChildProcess | undefined;
try {
  const started = Date.now();
  operator = spawn(
    process.execPath,
    [
      ...V8_FLAGS,
      join(ROOT, ENTRY),
      ...["--kubeconfig", kubeconfig, "--namespace", BENCH_NAMESPACE, "--no-leader-elect"],
      ...["--listen", "127.0.0.1:0"],
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, OPERATOR_LOG_LEVEL: "warn" } },
  );
  // V8's --trace-gc lines (if asked for) give the live heap after each collection.
  let lastMarkCompact = "";
  operator.stdout?.on("data", (c: Buffer) => {
    const lines = c
      .toString()
      .split("\n")
      .filter((l) => l.includes("Mark-Compact"));
    if (lines.length > 0) lastMarkCompact = lines.at(-1) as string;
  });
  const stop = () => {
    operator?.kill("SIGKILL");
    process.exit(130);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const pid = operator.pid as number;
  let peakSampled = 0;
  const sample = async () => {
    peakSampled = Math.max(peakSampled, await kib(pid, "VmRSS"));
  };
  const accepted = (p: K8sObject, generation: number) =>
    (
      p.status as { conditions?: { type: string; status: string; observedGeneration?: number }[] } | undefined
    )?.conditions?.some((c) => c.type === "Accepted" && c.observedGeneration === generation);
  const converged = () =>
    api.list("vesmon.io/v1alpha1", "NodeMonitor").length === selected &&
    api.list("vesmon.io/v1alpha1", "MonitoringProfile").every((p) => accepted(p, 1));
  while (!converged()) {
    if (operator.exitCode !== null) throw new Error(`operator exited ${operator.exitCode}`);
    if (Date.now() - started > 600_000) throw new Error("did not converge in 10 min");
    await sample();
    await sleep(250);
  }
  const convergedS = (Date.now() - started) / 1000;
  const convergedCpu = await cpuSeconds(pid);
  const load = (await readFile("/proc/loadavg", "utf8")).split(" ")[0];
  for (let i = 0; i < IDLE_S * 4; i++) {
    await sample();
    await sleep(250);
  }
  const steady = await kib(pid, "VmRSS");
  const nmBytes = api
    .list("vesmon.io/v1alpha1", "NodeMonitor")
    .reduce(
      (sum, nm) =>
        sum + JSON.stringify({ ...nm, metadata: { ...nm.metadata, managedFields: undefined } }).length,
      0,
    );

  // One profile edit: its measurement interval.
  const since = api.requests.length;
  const stored = api.get("vesmon.io/v1alpha1", "MonitoringProfile", CHANGED_PROFILE) as K8sObject;
  const spec = structuredClone(stored.spec) as { events?: { measurementInterval?: string } };
  spec.events = { ...spec.events, measurementInterval: "30s" };
  const editAt = Date.now();
  api.update({ ...stored, spec });
  while (!accepted(api.get("vesmon.io/v1alpha1", "MonitoringProfile", CHANGED_PROFILE) as K8sObject, 2)) {
    if (Date.now() - editAt > 120_000) throw new Error("the edit was not accepted in 2 min");
    await sample();
    await sleep(50);
  }
  const acceptedS = (Date.now() - editAt) / 1000;
  await sleep(3000);
  const writes = api.requests
    .slice(since)
    .filter((r) => r.method !== "GET" && r.path.includes("/nodemonitors"));
  const peak = await kib(pid, "VmHWM");
  console.log(
    JSON.stringify(
      {
        nodes: NODES,
        entry: ENTRY,
        v8Flags: V8_FLAGS.join(" "),
        mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? "",
        profiles: profiles.length,
        nodeMonitors: selected,
        convergedSeconds: Math.round(convergedS * 10) / 10,
        operatorCpuSecondsToConverge: convergedCpu,
        loadAverageAtConvergence: Number(load),
        rssPeakMiB: mib(Math.max(peak, peakSampled)),
        rssSteadyMiB: mib(steady),
        nodeMonitorBytesPerNode: Math.round(nmBytes / selected),
        ...(lastMarkCompact ? { lastMarkCompact: lastMarkCompact.trim() } : {}),
        profileEdit: {
          nodeMonitorWrites: writes.length,
          acceptedSeconds: Math.round(acceptedS * 100) / 100,
        },
      },
      null,
      2,
    ),
  );
} finally {
  operator?.kill("SIGKILL");
  await api.close();
  await rm(dir, { recursive: true, force: true });
}
