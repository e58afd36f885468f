import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeApiServer } from "../fake-apiserver/index.ts";

// The agent in cluster mode, as a process: it watches its NodeMonitor on the fake API server, runs what the
// spec says, follows spec changes across cut watches and a compacted history, and reports in the status. The
// first NodeMonitors here embed their specs, as operators before the carrier redesign wrote them (an upgrade
// runs new agents against them); the last block has them name profiles, as the operator writes them now.
const NODE = "worker-1";
let api: FakeApiServer;
let agent: ChildProcess;
let stderr = "";

const nodeMonitor = (collectors: object[]) => ({
  apiVersion: "vesmon.io/v1alpha1",
  kind: "NodeMonitor",
  metadata: { name: NODE },
  spec: {
    nodeName: NODE,
    configHash: `sha256:${collectors.length.toString(16).padStart(16, "0")}`,
    profiles: [
      {
        name: "host",
        generation: collectors.length,
        spec: { collectors, sinks: [{ name: "out", stdout: {} }] },
      },
    ],
  },
});

type Status = {
  observedGeneration?: number;
  jobs?: { collector: string; state: string }[];
  conditions?: { type: string; status: string; reason: string }[];
  profiles?: { name: string; appliedGeneration?: number; state: string }[];
};
const status = () =>
  (api.get("vesmon.io/v1alpha1", "NodeMonitor", NODE) as { status?: Status } | undefined)?.status;

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}; status ${JSON.stringify(status())}\n${stderr.slice(-2000)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  api = new FakeApiServer();
  await api.start();
  const dir = await mkdtemp(join(tmpdir(), "vesmon-cluster-"));
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, api.kubeConfig().exportConfig());
  api.create(nodeMonitor([{ name: "load", interval: "1s" }]));
  agent = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "../../agent/main.ts"),
      "--kubeconfig",
      kubeconfig,
      "--state-dir",
      join(dir, "state"),
      "--listen",
      "",
    ],
    {
      env: { ...process.env, NODE_NAME: NODE },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  agent.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
}, 30_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) agent.kill("SIGKILL");
  await api?.close();
});

describe("agent in cluster mode, NodeMonitors with embedded specs (older operators)", () => {
  it("runs its NodeMonitor's spec and reports Applied in the status", async () => {
    await until(
      () => status()?.conditions?.some((c) => c.type === "Applied" && c.status === "True") ?? false,
      "Applied",
    );
    expect(status()).toMatchObject({
      observedGeneration: 1,
      profiles: [{ name: "host", appliedGeneration: 1, state: "Applied" }],
    });
    await until(() => status()?.jobs?.[0]?.state === "Running", "the job running");
    expect(status()?.conditions?.find((c) => c.type === "Degraded")).toMatchObject({
      status: "False",
      reason: "AsExpected",
    });
  });

  it("follows spec changes, also after its watch was cut and the history compacted", async () => {
    api.update(
      nodeMonitor([
        { name: "load", interval: "1s" },
        { name: "memory", interval: "1s" },
      ]),
    );
    await until(
      () => status()?.observedGeneration === 2 && status()?.jobs?.length === 2,
      "generation 2 with two jobs",
    );
    // The next watch is answered 410 Gone, as when the agent's resourceVersion left the server's history.
    api.failNext("GET", /^\/apis\/vesmon\.io\/v1alpha1\/nodemonitors$/, 410);
    api.compact();
    api.cutWatches();
    api.update(
      nodeMonitor([
        { name: "load", interval: "1s" },
        { name: "memory", interval: "1s" },
        { name: "cpu", interval: "1s" },
      ]),
    );
    await until(
      () => status()?.observedGeneration === 3 && status()?.jobs?.length === 3,
      "generation 3 with three jobs",
      40_000,
    );
    expect(status()?.profiles).toEqual([
      { name: "host", appliedGeneration: 3, observedGeneration: 3, state: "Applied" },
    ]);
    const lists = api.requests.filter(
      (r) =>
        r.method === "GET" &&
        r.path === "/apis/vesmon.io/v1alpha1/nodemonitors" &&
        !/watch=(true|1)/.test(r.query),
    );
    expect(lists.length, "a relist after the 410").toBeGreaterThanOrEqual(2);
    const watches = api.requests.filter(
      (r) => r.path === "/apis/vesmon.io/v1alpha1/nodemonitors" && /watch=(true|1)/.test(r.query),
    );
    expect(
      watches.every(
        (r) =>
          /allowWatchBookmarks=true/.test(r.query) && /fieldSelector=metadata.name%3Dworker-1/.test(r.query),
      ),
    ).toBe(true);
  }, 60_000);

  it("writes its status only through the status subresource, replacing it whole (JSON patch add /status)", () => {
    const writes = api.requests.filter(
      (r) => r.method !== "GET" && r.path.startsWith("/apis/vesmon.io/v1alpha1/nodemonitors"),
    );
    expect(writes.length).toBeGreaterThan(0);
    expect(
      writes.every(
        (r) =>
          r.method === "PATCH" &&
          r.path.endsWith(`/${NODE}/status`) &&
          r.contentType === "application/json-patch+json" &&
          (r.body as { op: string; path: string }[])[0]?.path === "/status",
      ),
    ).toBe(true);
  });

  it("exits cleanly on SIGTERM", async () => {
    const exited = new Promise<number | null>((r) => agent.once("exit", (code) => r(code)));
    agent.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});

describe("agent on a node no profile selects", () => {
  it("becomes ready with nothing to run, and writes no status", async () => {
    const api2 = new FakeApiServer();
    await api2.start();
    const dir = await mkdtemp(join(tmpdir(), "vesmon-unselected-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, api2.kubeConfig().exportConfig());
    const proc = spawn(
      process.execPath,
      [
        join(import.meta.dirname, "../../agent/main.ts"),
        "--kubeconfig",
        kubeconfig,
        "--state-dir",
        join(dir, "state"),
        "--listen",
        "127.0.0.1:0",
      ],
      { env: { ...process.env, NODE_NAME: "idle-1" }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    proc.stderr?.on("data", (c: Buffer) => {
      err += c.toString();
    });
    try {
      const end = Date.now() + 20_000;
      let url: string | undefined;
      while (!url && Date.now() < end) {
        url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(err)?.[1];
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(url, err).toBeDefined();
      let ready = 0;
      while (ready !== 200 && Date.now() < end) {
        ready = (await fetch(`${url}/readyz`)).status;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready).toBe(200);
      await new Promise((r) => setTimeout(r, 1000));
      expect(api2.requests.filter((r) => r.method === "PATCH")).toEqual([]);
    } finally {
      proc.kill("SIGKILL");
      await api2.close();
    }
  }, 30_000);
});

describe("agent in cluster mode, NodeMonitors naming profiles", () => {
  it("runs the generation the operator accepted, keeps it while an edit is unjudged, and stops a profile refused", async () => {
    const api3 = new FakeApiServer();
    await api3.start();
    const dir = await mkdtemp(join(tmpdir(), "vesmon-named-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, api3.kubeConfig().exportConfig());
    const mp = api3.create({
      apiVersion: "vesmon.io/v1alpha1",
      kind: "MonitoringProfile",
      metadata: { name: "host" },
      spec: { collectors: [{ name: "load", interval: "1s" }], sinks: [{ name: "out", stdout: {} }] },
    });
    // What the operator writes once it has checked a generation.
    const accept = (generation: number, verdict = "True") => {
      const stored = api3.get("vesmon.io/v1alpha1", "MonitoringProfile", "host")!;
      api3.updateStatus({
        ...stored,
        status: {
          observedGeneration: generation,
          conditions: [
            {
              type: "Accepted",
              status: verdict,
              reason: verdict === "True" ? "Valid" : "SecretNotFound",
              message: verdict === "True" ? "profile accepted" : "refused",
              observedGeneration: generation,
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      });
    };
    accept(1);
    api3.create({
      apiVersion: "vesmon.io/v1alpha1",
      kind: "NodeMonitor",
      metadata: { name: "named-1" },
      spec: {
        nodeName: "named-1",
        configHash: "sha256:00000000000000aa",
        profiles: [{ name: "host", uid: mp.metadata.uid }],
      },
    });
    const st = () =>
      (api3.get("vesmon.io/v1alpha1", "NodeMonitor", "named-1") as { status?: Status } | undefined)?.status;
    const proc = spawn(
      process.execPath,
      [
        join(import.meta.dirname, "../../agent/main.ts"),
        "--kubeconfig",
        kubeconfig,
        "--state-dir",
        join(dir, "state"),
        "--listen",
        "",
      ],
      { env: { ...process.env, NODE_NAME: "named-1" }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    proc.stderr?.on("data", (c: Buffer) => {
      err += c.toString();
    });
    const wait = async (check: () => boolean, what: string) => {
      const end = Date.now() + 20_000;
      while (!check()) {
        if (Date.now() > end)
          throw new Error(`timed out waiting for ${what}; ${JSON.stringify(st())}\n${err.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await wait(() => st()?.profiles?.[0]?.appliedGeneration === 1, "generation 1 applied");
      const nmVersion = api3.get("vesmon.io/v1alpha1", "NodeMonitor", "named-1")?.metadata.generation;
      const edit = (spec: object) => {
        const stored = api3.get("vesmon.io/v1alpha1", "MonitoringProfile", "host")!;
        api3.update({ ...stored, spec });
      };
      edit({
        collectors: [
          { name: "load", interval: "1s" },
          { name: "memory", interval: "1s" },
        ],
        sinks: [{ name: "out", stdout: {} }],
      });
      // Not accepted yet: generation 1 keeps running.
      await new Promise((r) => setTimeout(r, 1500));
      expect(st()?.profiles?.[0]).toMatchObject({ appliedGeneration: 1, state: "Applied" });
      accept(2);
      await wait(
        () => st()?.profiles?.[0]?.appliedGeneration === 2 && st()?.jobs?.length === 2,
        "generation 2",
      );
      // An edit the operator refuses (Accepted False at its generation) is not run, and the profile stops,
      // as it did when the operator took a refused profile out of the NodeMonitor.
      edit({ collectors: [{ name: "cpu", interval: "1s" }], sinks: [{ name: "out", stdout: {} }] });
      accept(3, "False");
      await wait(
        () => (st()?.jobs ?? []).every((j) => j.state === "Stopped") || !st()?.jobs?.length,
        "stopped",
      );
      expect(st()?.jobs?.some((j) => j.collector === "cpu")).toBeFalsy();
      // None of this wrote the NodeMonitor's spec.
      expect(api3.get("vesmon.io/v1alpha1", "NodeMonitor", "named-1")?.metadata.generation).toBe(nmVersion);
      expect(proc.exitCode).toBeNull();
    } finally {
      proc.kill("SIGKILL");
      await api3.close();
    }
  }, 60_000);
});
