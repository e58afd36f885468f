import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../fake-apiserver/index.ts";

// What a standalone agent keeps loaded decides most of its resident memory (docs/benchmarks.md, "Where the
// agent's memory goes"): ES modules are never unloaded. A profile file is validated in a worker that ends, the
// HTTP server is node:http, and cluster mode speaks to the API server through the agent's own small client
// (kube/rest-client.ts; @kubernetes/client-node costs ~80 MiB RSS once imported), so none of these may be in
// the main thread's module graph once the agent runs. Nor may the builtins that only an ES import of node:http
// (its lazy WebSocket getter loads undici) or prom-client's index (Pushgateway, default metrics) would bring: a
// standalone agent posting over plain http needs neither tls nor undici. RSS itself is not asserted: it
// depends on the machine.
const ROOT = join(import.meta.dirname, "../..");
const AGENT = join(ROOT, "agent/main.ts");
const TRACE = join(ROOT, "test/helpers/module-trace.ts");

const PROFILE = `apiVersion: vesmon.io/v1alpha1
kind: MonitoringProfile
metadata:
  name: lean
spec:
  collectors:
    - { name: cpu, interval: 1s }
    - { name: memory, interval: 1s }
    - { name: load, interval: 1s }
  events:
    measurementInterval: 5s
  sinks:
    - name: scrape
      prometheus: {}
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What no agent may keep loaded, whatever its mode. */
const NEVER = [
  "/node_modules/@kubernetes/client-node/",
  "/node_modules/@bufbuild/cel/",
  "/node_modules/ajv/",
  "/node_modules/typebox/",
  "/node_modules/fastify/",
  "/api/v1alpha1/validators.ts",
];

/** Starts the agent under the module trace; `stderr()` is what it logged so far. */
function startTraced(args: string[], env: NodeJS.ProcessEnv, trace: string) {
  const p = spawn(process.execPath, ["--import", TRACE, AGENT, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env, MODULE_TRACE_FILE: trace },
  });
  child = p;
  let stderr = "";
  p.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  return { p, stderr: () => stderr };
}

/** What a standalone agent with a plain-http VES sink must not keep loaded. */
const NOT_FOR_PLAIN_HTTP = [
  "builtin:internal/deps/undici/undici",
  "builtin:http2",
  "builtin:tls",
  "builtin:https",
  "/node_modules/prom-client/index.js",
  "/node_modules/prom-client/lib/pushgateway.js",
  "/node_modules/prom-client/lib/defaultMetrics.js",
];

/** Waits until `collector` has collected, scraping the agent's /metrics (its URL from the log). */
async function untilCollected(agent: ReturnType<typeof startTraced>, collector: string, deadline: number) {
  await untilScraped(
    agent,
    new RegExp(`vesmon_scrape_collector_collections_total\\{[^}]*collector="${collector}"\\} [1-9]`),
    deadline,
  );
}

/** Waits until the agent's /metrics (its URL from the log) matches `done`. */
async function untilScraped(agent: ReturnType<typeof startTraced>, done: RegExp, deadline: number) {
  let scraped = "";
  while (!done.test(scraped)) {
    if (agent.p.exitCode !== null || Date.now() > deadline)
      throw new Error(`agent did not reach steady state (exit ${agent.p.exitCode}):\n${agent.stderr()}`);
    await sleep(250);
    const url = /"url":"(http:\/\/[^"]+)"/.exec(agent.stderr())?.[1];
    if (url)
      scraped = await fetch(`${url}/metrics`).then(
        (r) => r.text(),
        () => "",
      );
  }
}

/** The modules the agent's main thread loaded, after SIGUSR2. */
async function loadedModules(p: ChildProcess, trace: string, deadline: number): Promise<string[]> {
  p.kill("SIGUSR2");
  let text = "";
  while (!text && Date.now() < deadline) {
    await sleep(100);
    text = await readFile(trace, "utf8").catch(() => "");
  }
  return text.split("\n");
}

async function stopsCleanly(p: ChildProcess) {
  p.kill("SIGTERM");
  const [code] = await once(p, "exit");
  expect(code).toBe(0);
}

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("standalone agent's module graph", () => {
  it("holds neither the Kubernetes client, the CEL runtime, ajv, TypeBox, fastify, tls nor undici once it runs", async () => {
    // A VES collector over plain http, so the sink's transport has posted by the time the modules are read.
    let posts = 0;
    const collector = createServer((req, res) => {
      posts++;
      req.resume().on("end", () => res.writeHead(202).end());
    });
    collector.listen(0, "127.0.0.1");
    await once(collector, "listening");
    try {
      dir = await mkdtemp(join(tmpdir(), "vesmon-modules-"));
      const profile = join(dir, "profile.yaml");
      const trace = join(dir, "modules.txt");
      const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/eventListener/v7`;
      await writeFile(profile, `${PROFILE}    - name: ves\n      ves: { url: "${url}", timeout: 5s }\n`);
      const args = ["--profile", profile, "--state-dir", join(dir, "state"), "--listen", "127.0.0.1:0"];
      const agent = startTraced([...args, "--node-name", "n"], { AGENT_LOG_LEVEL: "info" }, trace);
      // Steady state: the profile applied, the host collectors have run, /metrics has been served and the VES
      // sink has delivered.
      const deadline = Date.now() + 45_000;
      await untilCollected(agent, "cpu", deadline);
      await untilScraped(agent, /vesmon_sink_delivered_events_total\{[^}]*sink="ves"[^}]*\} [1-9]/, deadline);
      const modules = await loadedModules(agent.p, trace, deadline);
      // The trace sees what loads (collectors, the metrics library, http, builtins): its absence is not a pass.
      expect(posts).toBeGreaterThan(0);
      expect(modules.some((m) => m.endsWith("/agent/collectors/cpu.ts"))).toBe(true);
      expect(modules.some((m) => m.includes("/node_modules/prom-client/lib/counter.js"))).toBe(true);
      expect(modules).toContain("builtin:http");
      expect(modules.filter((m) => m.endsWith("/kube/rest-client.ts"))).toEqual([]);
      for (const unwanted of [...NEVER, ...NOT_FOR_PLAIN_HTTP])
        expect(modules.filter((m) => m.includes(unwanted))).toEqual([]);
      await stopsCleanly(agent.p);
    } finally {
      collector.close();
    }
  }, 60_000);
});

describe("cluster-mode agent's module graph", () => {
  it("holds its own API client but neither client-node, the CEL runtime, ajv, TypeBox nor fastify once it runs", async () => {
    const api = new FakeApiServer();
    await api.start();
    try {
      dir = await mkdtemp(join(tmpdir(), "vesmon-modules-"));
      const kubeconfig = join(dir, "kubeconfig");
      const trace = join(dir, "modules.txt");
      await writeFile(kubeconfig, api.kubeConfig().exportConfig());
      const mp = api.create({
        apiVersion: "vesmon.io/v1alpha1",
        kind: "MonitoringProfile",
        metadata: { name: "lean" },
        spec: { collectors: [{ name: "load", interval: "1s" }], sinks: [{ name: "scrape", prometheus: {} }] },
      });
      api.updateStatus({
        ...mp,
        status: {
          observedGeneration: 1,
          conditions: [
            {
              type: "Accepted",
              status: "True",
              reason: "Valid",
              message: "profile accepted",
              observedGeneration: 1,
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      });
      api.create({
        apiVersion: "vesmon.io/v1alpha1",
        kind: "NodeMonitor",
        metadata: { name: "n" },
        spec: { nodeName: "n", configHash: "sha256:00000000000000aa", profiles: [{ name: "lean" }] },
      });
      const args = ["--kubeconfig", kubeconfig, "--state-dir", join(dir, "state"), "--listen", ""];
      const agent = startTraced(args, { NODE_NAME: "n" }, trace);
      // Steady state: the profile validated (in the worker), applied and reported.
      const applied = () =>
        (
          api.get("vesmon.io/v1alpha1", "NodeMonitor", "n")?.status as
            | { profiles?: { appliedGeneration?: number }[] }
            | undefined
        )?.profiles?.[0]?.appliedGeneration === 1;
      const deadline = Date.now() + 45_000;
      while (!applied()) {
        if (agent.p.exitCode !== null || Date.now() > deadline)
          throw new Error(`agent did not apply its profile (exit ${agent.p.exitCode}):\n${agent.stderr()}`);
        await sleep(250);
      }
      const modules = await loadedModules(agent.p, trace, deadline);
      expect(modules.some((m) => m.endsWith("/kube/rest-client.ts"))).toBe(true);
      expect(modules.some((m) => m.endsWith("/agent/config/cluster-config.ts"))).toBe(true);
      // The kubeconfig is JSON, read without the YAML parser (~13 MiB once loaded); in a pod there is none.
      expect(modules.filter((m) => m.includes("/node_modules/yaml/"))).toEqual([]);
      for (const unwanted of NEVER) expect(modules.filter((m) => m.includes(unwanted))).toEqual([]);
      await stopsCleanly(agent.p);
    } finally {
      await api.close();
    }
  }, 60_000);
});

describe("KubeVirt discovery's module graph", () => {
  it("lists virt-launcher pods through the agent's own API client, without client-node", async () => {
    const api = new FakeApiServer();
    await api.start();
    try {
      dir = await mkdtemp(join(tmpdir(), "vesmon-modules-"));
      const kubeconfig = join(dir, "kubeconfig");
      const profile = join(dir, "profile.yaml");
      const trace = join(dir, "modules.txt");
      await writeFile(kubeconfig, api.kubeConfig().exportConfig());
      await writeFile(
        profile,
        PROFILE.replace(
          "    - { name: load, interval: 1s }",
          "    - { name: virt, interval: 1s, libvirt: { discovery: kubevirt, timeout: 1s } }",
        ),
      );
      const args = ["--profile", profile, "--kubeconfig", kubeconfig, "--host-root", dir];
      const agent = startTraced(
        [...args, "--state-dir", join(dir, "state"), "--listen", "127.0.0.1:0"],
        { NODE_NAME: "n", AGENT_LOG_LEVEL: "info" },
        trace,
      );
      const deadline = Date.now() + 45_000;
      await untilCollected(agent, "virt", deadline);
      expect(api.requests.some((r) => r.path === "/api/v1/pods" && /watch=/.test(r.query))).toBe(true);
      const modules = await loadedModules(agent.p, trace, deadline);
      expect(modules.some((m) => m.endsWith("/agent/libvirt/discovery/kubevirt-pods.ts"))).toBe(true);
      expect(modules.some((m) => m.endsWith("/kube/rest-client.ts"))).toBe(true);
      for (const unwanted of NEVER) expect(modules.filter((m) => m.includes(unwanted))).toEqual([]);
      await stopsCleanly(agent.p);
    } finally {
      await api.close();
    }
  }, 60_000);
});
