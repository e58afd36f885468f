import { spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateVesEvent } from "../../agent/ves/schema.ts";

// The agent without --profile (its built-in copy of examples/profiles/local.yaml, which `npm start` reads from the
// file) prints VES events within one interval and stops cleanly on Ctrl-C.
describe("the agent with its built-in profile", () => {
  it("prints a schema-valid VES event at its first window boundary with samples, and exits 0 on SIGINT", async () => {
    const state = await mkdtemp(join(tmpdir(), "vesmon-default-"));
    const agent = spawn(
      process.execPath,
      [join(import.meta.dirname, "../../agent/main.ts"), "--state-dir", state, "--listen", ""],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    agent.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    // The first event may be a heartbeat (its boundary can come first); wait for the first measurement.
    const seen = await new Promise<Record<string, unknown>[]>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no measurement event within 25 s; stdout:\n${out}\nstderr:\n${err}`)),
        25_000,
      );
      agent.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        const events = out
          .split("\n")
          .slice(0, -1)
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        if (events.some((e) => (e.commonEventHeader as { domain: string }).domain === "measurement")) {
          clearTimeout(timer);
          resolve(events);
        }
      });
    });
    for (const e of seen) expect(validateVesEvent(e, "7.2.1")).toEqual({ ok: true });
    const exited = new Promise<number | null>((r) => agent.once("exit", (code) => r(code)));
    agent.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(err).toMatch(/stopping: collection ends/);
  }, 40_000);
});
