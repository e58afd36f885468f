import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { heartbeat7 } from "./testdata.ts";

// The program as `npm run listener` runs it: the URL, then one line per accepted event on stdout.
let proc: ChildProcess | undefined;
afterEach(async () => {
  if (proc && proc.exitCode === null) {
    const exited = once(proc, "exit");
    proc.kill("SIGTERM");
    await exited;
  }
});

async function run(...args: string[]): Promise<{ url: string; next: () => Promise<string> }> {
  proc = spawn(process.execPath, [join(import.meta.dirname, "main.ts"), "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const next = async () => String((await lines.next()).value);
  return { url: await next(), next };
}

const send = (url: string, events: object[]) =>
  fetch(`${url}/eventListener/v7/eventBatch`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ eventList: events }),
  });

describe("vesmon-listener program", () => {
  it("prints a compact line per accepted event", async () => {
    const l = await run();
    expect((await send(l.url, [heartbeat7(1), heartbeat7(2)])).status).toBe(202);
    expect(await l.next()).toMatch(/^\S+Z heartbeat node-1 \S+ heartbeat0000000001$/);
    expect(await l.next()).toMatch(/^\S+Z heartbeat node-2 \S+ heartbeat0000000002$/);
  }, 20_000);

  it("prints each event as JSON with --verbose", async () => {
    const l = await run("--verbose");
    expect((await send(l.url, [heartbeat7(3)])).status).toBe(202);
    expect(JSON.parse(await l.next())).toEqual(heartbeat7(3));
  }, 20_000);
});
