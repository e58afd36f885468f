import { type ChildProcessByStdio, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import type { ListenerProcess } from "../../agent/listener/process.ts";
import { receivedIds, startListener } from "../helpers/delivery.ts";
import { numberedEvents } from "../helpers/ves-events.ts";

// kill -9 at seeded random points while the real sink appends and while it replays its spool, against the
// real vesmon-listener. After every restart nothing confirmed may be missing; a batch in flight at a kill may
// arrive twice (at least once), nothing else; and per domain events arrive in the order they were appended.
// Bounded by kill count and by time. VESMON_KILL_SEED picks another sequence of kill points.
const SEED = Number(process.env.VESMON_KILL_SEED ?? 14);
const KILLS = Number(process.env.VESMON_KILLS ?? 50);
// Each kill costs a Node start (~0.3 s on an idle machine, over 1 s on a busy one): the budget is generous,
// and the test says how many kills it managed if it runs out.
const BUDGET_MS = 200_000;
const BATCH = 5;

/** mulberry32: a small seeded PRNG, so a failing sequence of kill points can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Child = ChildProcessByStdio<null, Readable, null>;

let listener: ListenerProcess | undefined;
const drops: Record<string, number> = {};
let dir = "";
afterAll(async () => {
  await listener?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Starts the sink child; `onLine` sees each line it prints and may return true (or a delay) to kill it there. */
async function runChild(
  from: number,
  count: number,
  onLine: (line: string) => boolean | number,
): Promise<string[]> {
  const events = join(dir, "events.json");
  await writeFile(events, JSON.stringify(numberedEvents(count, from)));
  const child: Child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "../helpers/kill-child.ts"),
      join(dir, "spool"),
      listener!.url,
      String(from),
      String(count),
      events,
    ],
    // The compile cache makes every start after the first one cheaper: this test is mostly Node starts.
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NODE_COMPILE_CACHE: join(dir, "cache") } },
  );
  const lines: string[] = [];
  let buffered = "";
  let armed = false;
  child.stdout.on("data", (c: Buffer) => {
    buffered += c.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      const verdict = armed ? false : onLine(line);
      if (verdict === false) continue;
      armed = true;
      // A number is a delay in ms before the kill: it lands between two writes, or inside one.
      setTimeout(() => child.kill("SIGKILL"), verdict === true ? 0 : verdict);
    }
  });
  await new Promise((resolve) => child.once("close", resolve));
  // What the sink dropped in this run (the last report before the kill), so a missing event can be explained.
  const dropped = lines.findLast((l) => l.startsWith("dropped "));
  if (dropped)
    for (const [reason, n] of Object.entries(JSON.parse(dropped.slice(8)) as Record<string, number>))
      drops[reason] = (drops[reason] ?? 0) + n;
  return lines;
}

async function setLatency(ms: number): Promise<void> {
  const res = await fetch(`${listener!.url}/control/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ latencyMs: ms }),
  });
  expect(res.status).toBe(200);
}

const numberOf = (id: string) => ({ domain: id.split("-")[0]!, i: Number(id.slice(-10)) });

describe("VES delivery under kill -9", () => {
  it(`loses nothing confirmed, repeats at most the batch in flight, keeps the order (seed ${SEED})`, async () => {
    const rnd = prng(SEED);
    listener = await startListener();
    dir = await mkdtemp(join(tmpdir(), "vesmon-kill9-"));
    const started = Date.now();
    const confirmed: number[] = [];
    const kills = { append: 0, replay: 0 };
    let next = 0;
    while (kills.append + kills.replay < KILLS && Date.now() - started < BUDGET_MS) {
      if (rnd() < 0.4 && next > 0) {
        // During replay: no appends, the child only delivers what the spool holds, slowly.
        await setLatency(10);
        const delay = Math.floor(rnd() * 150);
        await runChild(next, 0, (line) => (line === "open" ? delay : false));
        kills.replay++;
        continue;
      }
      // During append (and the delivery running beside it): kill after a random group, at a random moment.
      await setLatency(Math.floor(rnd() * 15));
      const count = BATCH * (2 + Math.floor(rnd() * 10));
      const at = 1 + Math.floor(rnd() * (count / BATCH));
      const delay = Math.floor(rnd() * 8);
      const from = next;
      const lines = await runChild(from, count, (line) =>
        line === `appended ${from + at * BATCH}` ? delay : false,
      );
      const done = Math.max(
        from,
        ...lines.filter((l) => l.startsWith("appended ")).map((l) => Number(l.slice(9))),
      );
      for (let i = from; i < done; i++) confirmed.push(i);
      next = from + count;
      kills.append++;
    }
    // The last start delivers what is left; then every confirmed event must be there.
    await setLatency(0);
    await runChild(next, 0, (line) => line === "queued 0");

    const got = (await receivedIds(listener)).map(numberOf);
    const seen = new Map<number, number>();
    for (const { i } of got) seen.set(i, (seen.get(i) ?? 0) + 1);
    const missing = confirmed.filter((i) => !seen.has(i));
    const extra = got.length - seen.size;
    const total = kills.append + kills.replay;
    expect(missing, JSON.stringify({ missing, drops, kills })).toEqual([]);
    // Children die young, so the backlog grows (to about 1 MiB by the end on a busy machine); the buffer is
    // sized so that the oldest are never dropped for space here, which would be policy, not loss.
    expect(drops.full ?? 0).toBe(0);
    expect(total, `only ${total} kills within ${BUDGET_MS} ms`).toBe(KILLS);
    expect([...seen.keys()].every((i) => i >= 0 && i < next)).toBe(true);
    // A kill between the collector's answer and the ack resends that one batch: at most BATCH per kill.
    expect(extra).toBeLessThanOrEqual(total * BATCH);
    for (const domain of ["heartbeat", "measurement"]) {
      const firsts: number[] = [];
      const once = new Set<number>();
      for (const g of got)
        if (g.domain === domain && !once.has(g.i)) {
          once.add(g.i);
          firsts.push(g.i);
        }
      expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    }
    console.info(
      `kill -9: seed ${SEED}, ${kills.append} kills during append, ${kills.replay} during replay, ` +
        `${confirmed.length} confirmed events all delivered, ${extra} resent, drops ${JSON.stringify(drops)}, ` +
        `${Date.now() - started} ms`,
    );
  }, 300_000);
});
