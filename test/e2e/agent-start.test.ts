import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// Start-up errors an operator must fix end the agent at once with one line on stderr and a non-zero code,
// instead of hanging (a state dir under /proc) or running without its probes' endpoint (a port in use).
const AGENT = join(import.meta.dirname, "../../agent/main.ts");

async function start(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; lines: string[]; ms: number }> {
  const started = Date.now();
  const p = spawn(process.execPath, [AGENT, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stderr = "";
  p.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  // Bounded: a hang (the old behaviour under /proc) fails the test instead of stalling the suite.
  const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
  const [code] = (await once(p, "exit")) as [number | null];
  clearTimeout(timer);
  const lines = stderr.split("\n").filter(Boolean);
  return { code, lines, ms: Date.now() - started };
}

const message = (line: string | undefined) => JSON.parse(line ?? "{}") as { level: number; msg: string };

describe("agent start-up errors", () => {
  it("exits with one line when the state dir is on /proc", async () => {
    const r = await start(["--state-dir", "/proc/vesmon-state", "--listen", ""]);
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(message(r.lines[0])).toEqual(
      expect.objectContaining({
        level: 60,
        msg: "cannot start: state dir /proc/vesmon-state: /proc is on a proc filesystem; pick a directory on disk (--state-dir)",
      }),
    );
  }, 30_000);

  it("exits with one line when the port is taken", async () => {
    const taken = createServer().listen(0, "127.0.0.1");
    await once(taken, "listening");
    const { port } = taken.address() as { port: number };
    try {
      const r = await start([
        "--profile",
        join(import.meta.dirname, "../../examples/profiles/local.yaml"),
        "--state-dir",
        join(import.meta.dirname, "../../.vesmon-state"),
        "--listen",
        `127.0.0.1:${port}`,
      ]);
      expect(r.code).toBe(1);
      expect(r.lines).toHaveLength(1);
      expect(message(r.lines[0]).msg).toBe(
        `cannot start: cannot listen on 127.0.0.1:${port} for /healthz, /readyz and /metrics (EADDRINUSE); choose another with --listen HOST:PORT, or --listen "" for none`,
      );
    } finally {
      taken.close();
    }
  }, 30_000);

  it("exits with one line naming the field when the kubeconfig asks for an exec plugin", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vesmon-start-"));
    try {
      const kubeconfig = join(dir, "kubeconfig");
      await writeFile(
        kubeconfig,
        `current-context: c
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: eks, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws}}}]
contexts: [{name: c, context: {cluster: c, user: eks}}]
`,
      );
      const args = ["--kubeconfig", kubeconfig, "--state-dir", join(dir, "state"), "--listen", ""];
      const r = await start(args, { NODE_NAME: "n1" });
      expect(r.code).toBe(1);
      expect(r.lines).toHaveLength(1);
      expect(message(r.lines[0])).toEqual(
        expect.objectContaining({
          level: 60,
          msg: `cannot start: kubeconfig ${kubeconfig}: users[name="eks"].user.exec is not supported by the agent's client; use a token, tokenFile or a client certificate`,
        }),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
