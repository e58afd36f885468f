// Seeded mutations of every reply, event and keepalive packet captured from libvirtd 9.0, served by a fake
// daemon over a real UNIX socket to one long-lived client (and, for handshake replies, to fresh ones). Each
// input must end in a value or a typed error, never an uncaught exception or a wedged client; memory stays
// bounded; and the client's next connection works. Bounded by count and by time. No lock: no real libvirtd.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtClient } from "../../agent/libvirt/client.ts";
import { LibvirtConnectionError, LibvirtError, LibvirtTimeoutError } from "../../agent/libvirt/errors.ts";
import { LibvirtHealthRegistry } from "../../agent/libvirt/health.ts";
import { Proc } from "../../agent/libvirt/protocol.ts";
import type { Domain } from "../../agent/libvirt/remote.ts";
import {
  type CapturedPacket,
  capturedPackets,
  type FakeConnection,
  type FakeLibvirtd,
  startFakeLibvirtd,
  withSerial,
} from "../helpers/fake-libvirtd.ts";
import { prng } from "../helpers/prng.ts";
import { mutate } from "./mutate.ts";

const SEED = 0x13_5eed;
const CASES = Number(process.env.FUZZ_CASES ?? 5000);
const BUDGET_MS = 60_000;
/**
 * Independent lanes (a fake daemon and a client each) run side by side: a case costs about 1.5 ms of CPU but
 * several event-loop wake-ups, so on a busy machine one lane at a time would spend its time waiting.
 */
const LANES = 8;

const SOME_DOMAIN: Domain = { name: "vm", uuid: "00000000-0000-4000-8000-000000000000", id: 1 };
/** The client call that makes the daemon send each captured reply. */
const CALLS: Record<number, (c: LibvirtClient) => Promise<unknown>> = {
  [Proc.CONNECT_GET_LIB_VERSION]: (c) => c.libVersion(),
  [Proc.CONNECT_LIST_ALL_DOMAINS]: (c) => c.listAllDomains(),
  [Proc.CONNECT_GET_ALL_DOMAIN_STATS]: (c) => c.getAllDomainStats(),
  [Proc.DOMAIN_GET_XML_DESC]: (c) => c.getXmlDesc(SOME_DOMAIN),
};
/** Replies that arrive during the handshake: each case needs a fresh connection. */
const HANDSHAKE = new Set<number>([
  Proc.AUTH_LIST,
  Proc.CONNECT_SUPPORTS_FEATURE,
  Proc.CONNECT_OPEN,
  Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
]);

const fakes: FakeLibvirtd[] = [];
const uncaught: Error[] = [];
const onUncaught = (err: Error) => uncaught.push(err);

beforeAll(async () => {
  process.on("uncaughtExceptionMonitor", onUncaught);
  for (let lane = 0; lane < LANES; lane++) fakes.push(await startFakeLibvirtd());
});
afterAll(async () => {
  process.off("uncaughtExceptionMonitor", onUncaught);
  for (const fake of fakes) await fake.close();
});

const newClient = (fake: FakeLibvirtd) =>
  new LibvirtClient({
    socketPath: fake.socket,
    callTimeout: 500,
    keepalive: false,
    reconnect: { initial: 0, max: 0, jitter: 0 },
    watchSocket: false,
    health: new LibvirtHealthRegistry(),
  });

const isTyped = (err: unknown) =>
  err instanceof LibvirtError || err instanceof LibvirtConnectionError || err instanceof LibvirtTimeoutError;

/** Whether `bytes` is exactly one well-framed packet; if not, the daemon hangs up after it, as a broken peer. */
const framed = (bytes: Buffer) => bytes.length >= 4 && bytes.readUInt32BE(0) === bytes.length;

/** Resolves once `c` is connected (at once if it is), or rejects after `ms`. */
function connected(c: LibvirtClient, ms = 15_000): Promise<void> {
  if (c.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not connected within ${ms} ms`)), ms);
    const off = c.onState((s) => {
      if (s !== "connected") return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** What one lane saw. */
interface LaneResult {
  cases: number;
  ok: number;
  typed: number;
  timeouts: number;
  failures: string[];
  /** A call on the client's connection after the last case. */
  after: number;
}

/** Runs `cases` mutations against `fake` with one long-lived client (and fresh ones for handshake replies). */
async function lane(fake: FakeLibvirtd, seed: number, cases: number, deadline: number): Promise<LaneResult> {
  const random = prng(seed);
  const sources = capturedPackets().filter((p) => p.direction === "rx");
  const r: LaneResult = { cases: 0, ok: 0, typed: 0, timeouts: 0, failures: [], after: 0 };
  /** The reply the daemon mutates next, and what the mutation was (for the failure message). */
  let armed: { proc: number; source: CapturedPacket; kind?: string } | undefined;
  let kind = "";
  fake.handler = (call, conn: FakeConnection) => {
    if (!armed || call.header.proc !== armed.proc) return false;
    const m = mutate(withSerial(armed.source.bytes, call.header.serial), random);
    kind = m.kind;
    armed = undefined;
    conn.write(m.bytes);
    if (!framed(m.bytes)) conn.socket.end();
    return true;
  };
  // Not subscribed: a lifecycle event is decoded whatever its callback id, and each reconnect saves a call.
  const main = newClient(fake);
  await main.connect();
  for (; r.cases < cases && Date.now() < deadline; r.cases++) {
    const source = sources[Math.floor(random() * sources.length)]!;
    kind = "";
    let outcome: Promise<unknown>;
    if (HANDSHAKE.has(source.proc)) {
      const fresh = newClient(fake);
      await fresh.onLifecycle(() => {});
      armed = { proc: source.proc, source };
      outcome = fresh.connect().finally(() => fresh.close());
    } else {
      await connected(main);
      const call = CALLS[source.proc];
      if (call) {
        armed = { proc: source.proc, source };
        outcome = call(main);
      } else {
        // Events and keepalive arrive unasked; a call after them shows whether the connection took them.
        const m = mutate(source.bytes, random);
        kind = m.kind;
        for (const conn of fake.connections) {
          conn.write(m.bytes);
          if (!framed(m.bytes)) conn.socket.end();
        }
        outcome = main.libVersion();
      }
    }
    try {
      await outcome;
      r.ok++;
    } catch (err) {
      if (err instanceof LibvirtTimeoutError) r.timeouts++;
      if (isTyped(err)) r.typed++;
      else
        r.failures.push(
          `seed ${seed} case ${r.cases} (${source.label}/${source.proc}, ${kind}): untyped ${(err as Error).name}: ${(err as Error).message}`,
        );
    }
    armed = undefined;
  }
  fake.handler = undefined;
  await connected(main);
  r.after = (await main.getAllDomainStats()).length;
  await main.close();
  return r;
}

describe("libvirt client under seeded mutations of captured packets", () => {
  it(`takes ${CASES} mutated replies and events over a real socket without a crash or a wedge`, async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const sampler = setInterval(() => {
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    }, 100);
    const started = Date.now();
    const cpuBefore = process.cpuUsage();
    const perLane = Math.ceil(CASES / LANES);
    const results = await Promise.all(
      fakes.map((fake, i) => lane(fake, SEED + i, perLane, started + BUDGET_MS)),
    ).finally(() => clearInterval(sampler));
    const elapsed = Date.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const total = (k: "cases" | "ok" | "typed" | "timeouts") => results.reduce((n, r) => n + r[k], 0);
    console.log(
      `${total("cases")} mutations in ${elapsed} ms (CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms): ${total("ok")} decoded, ${total("typed")} typed errors (${total("timeouts")} timeouts), heap peak +${Math.round((heapPeak - heapBefore) / 1024)} KiB; ${fakes.reduce((n, f) => n + f.accepted, 0)} connections`,
    );

    expect(results.flatMap((r) => r.failures)).toEqual([]);
    expect(uncaught).toEqual([]);
    expect(total("cases"), `only ${total("cases")} cases within ${BUDGET_MS} ms`).toBeGreaterThanOrEqual(
      CASES,
    );
    // Every case either decoded or failed with a typed error; a good share broke the connection.
    expect(total("ok") + total("typed")).toBe(total("cases"));
    expect(total("typed")).toBeGreaterThan(CASES / 4);
    // Bounded memory: nothing of thousands of broken connections is kept (the largest packet is 2.4 KB).
    expect(heapPeak - heapBefore).toBeLessThan(64 * 1024 * 1024);
    // On every lane, the connection after the last case works.
    expect(results.map((r) => r.after)).toEqual(results.map(() => 1));
  }, 90_000);
});
