import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../bench/proc.ts";

// `npm start` as the README gives it: stdout must be event JSON only (piped to jq), and stopping npm must stop
// the agent, as it does under a process manager that signals npm.
const ROOT = join(import.meta.dirname, "../..");
let npm: ChildProcess | undefined;
let dir: string | undefined;

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

async function until(check: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  if (npm?.pid) {
    try {
      process.kill(-npm.pid, "SIGKILL");
    } catch {
      // The group is gone: everything stopped.
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("npm start", () => {
  it("prints only event JSON on stdout, and SIGTERM to npm stops the agent", async () => {
    dir = await mkdtemp(join(tmpdir(), "vesmon-npm-"));
    const port = await freePort();
    npm = spawn("npm", ["start", "--", "--listen", `127.0.0.1:${port}`, "--state-dir", join(dir, "state")], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so the clean-up below reaches whatever npm started even if the test failed.
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    npm.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    npm.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    // The local profile measures every 10 s: the first host event comes within two windows.
    await until(() => /"domain":"measurement"/.test(stdout), `a measurement event\n${stderr}`, 40_000);
    const lines = stdout.split("\n").filter((l) => l !== "");
    for (const l of lines) expect(JSON.parse(l), l).toHaveProperty("commonEventHeader.domain");
    expect(await portOpen(port)).toBe(true);
    // The profile came from the file the README names, not a built-in copy.
    expect(stderr).toMatch(/examples\/profiles\/local\.yaml/);

    const exited = once(npm, "exit");
    npm.kill("SIGTERM");
    await exited;
    await until(async () => !(await portOpen(port)), "the agent to free its port", 10_000);
    expect(stderr).toMatch(/"signal":"SIGTERM".*stopping/);
  }, 60_000);
});
