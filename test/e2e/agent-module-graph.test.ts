import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../fake-apiserver/index.ts";

// What a standalone agent keeps loaded decides most of its resident memory (docs/benchmarks.md, "Where the
// agent's memory goes"): ES modules are never unloaded. A profile file is validated in a worker that ends, the
// HTTP server is node:http and the Kubernetes client is cluster mode's, so none of these may be in the main
// thread's module graph once the agent runs. RSS itself is not asserted: it depends on the machine.
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
  it("holds neither the Kubernetes client, the CEL runtime, ajv, TypeBox nor fastify once it runs", async () => {
    dir = await mkdtemp(join(tmpdir(), "vesmon-modules-"));
    const profile = join(dir, "profile.yaml");
    const trace = join(dir, "modules.txt");
    await writeFile(profile, PROFILE);
    const args = ["--profile", profile, "--state-dir", join(dir, "state"), "--listen", "127.0.0.1:0"];
    const p = spawn(process.execPath, ["--import", TRACE, AGENT, ...args, "--node-name", "n"], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, MODULE_TRACE_FILE: trace, AGENT_LOG_LEVEL: "info" },
    });
    child = p;
    let stderr = "";
    p.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    // Steady state: the profile applied, the host collectors have run and /metrics has been served.
    const deadline = Date.now() + 45_000;
    let scraped = "";
    while (!/vesmon_scrape_collector_collections_total\{[^}]*collector="cpu"\} [1-9]/.test(scraped)) {
      if (p.exitCode !== null || Date.now() > deadline)
        throw new Error(`agent did not reach steady state (exit ${p.exitCode}):\n${stderr}`);
      await sleep(250);
      const url = /"url":"(http:\/\/[^"]+)"/.exec(stderr)?.[1];
      if (url)
        scraped = await fetch(`${url}/metrics`).then(
          (r) => r.text(),
          () => "",
        );
    }
    p.kill("SIGUSR2");
    let text = "";
    while (!text && Date.now() < deadline) {
      await sleep(100);
      text = await readFile(trace, "utf8").catch(() => "");
    }
    const modules = text.split("\n");
    // The trace sees what loads: the collectors, the metrics library, and its own absence is not a pass.
    expect(modules.some((m) => m.endsWith("/agent/collectors/cpu.ts"))).toBe(true);
    expect(modules.some((m) => m.includes("/node_modules/prom-client/"))).toBe(true);
    for (const unwanted of [
      "/node_modules/@kubernetes/client-node/",
      "/node_modules/@bufbuild/cel/",
      "/node_modules/ajv/",
      "/node_modules/typebox/",
      "/node_modules/fastify/",
      "/api/v1alpha1/validators.ts",
    ])
      expect(modules.filter((m) => m.includes(unwanted))).toEqual([]);
    p.kill("SIGTERM");
    const [code] = await once(p, "exit");
    expect(code).toBe(0);
  }, 60_000);
});

describe("cluster-mode agent's module graph", () => {
  it("holds the Kubernetes client but neither the CEL runtime, ajv, TypeBox nor fastify once it runs", async () => {
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
      const p = spawn(process.execPath, ["--import", TRACE, AGENT, ...args], {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, MODULE_TRACE_FILE: trace, NODE_NAME: "n" },
      });
      child = p;
      let stderr = "";
      p.stderr?.on("data", (c: Buffer) => {
        stderr += c.toString();
      });
      // Steady state: the profile validated (in the worker), applied and reported.
      const applied = () =>
        (
          api.get("vesmon.io/v1alpha1", "NodeMonitor", "n")?.status as
            | { profiles?: { appliedGeneration?: number }[] }
            | undefined
        )?.profiles?.[0]?.appliedGeneration === 1;
      const deadline = Date.now() + 45_000;
      while (!applied()) {
        if (p.exitCode !== null || Date.now() > deadline)
          throw new Error(`agent did not apply its profile (exit ${p.exitCode}):\n${stderr}`);
        await sleep(250);
      }
      p.kill("SIGUSR2");
      let text = "";
      while (!text && Date.now() < deadline) {
        await sleep(100);
        text = await readFile(trace, "utf8").catch(() => "");
      }
      const modules = text.split("\n");
      expect(modules.some((m) => m.includes("/node_modules/@kubernetes/client-node/"))).toBe(true);
      expect(modules.some((m) => m.endsWith("/agent/config/cluster-config.ts"))).toBe(true);
      for (const unwanted of [
        "/node_modules/@bufbuild/cel/",
        "/node_modules/ajv/",
        "/node_modules/typebox/",
        "/node_modules/fastify/",
        "/api/v1alpha1/validators.ts",
      ])
        expect(modules.filter((m) => m.includes(unwanted))).toEqual([]);
      p.kill("SIGTERM");
      const [code] = await once(p, "exit");
      expect(code).toBe(0);
    } finally {
      await api.close();
    }
  }, 60_000);
});
