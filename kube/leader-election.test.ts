import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../test/fake-apiserver/index.ts";
import { ManualTimers } from "../test/helpers/manual-timers.ts";
import { LeaderElector } from "./leader-election.ts";
import type { Timers } from "./timers.ts";

const LEASE = "vesmon-operator";
const NS = "vesmon-system";
const START = Date.parse("2026-03-01T12:00:00Z");

let api: FakeApiServer;
let timers: ManualTimers;
let electors: LeaderElector[];
let log: string[];

beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  timers = new ManualTimers();
  timers.advance(START);
  electors = [];
  log = [];
});

afterEach(async () => {
  for (const e of electors) await e.stop({ release: false });
  await api.close();
});

function elector(identity: string, clock: Timers = timers): LeaderElector {
  const e = new LeaderElector({
    kubeConfig: api.kubeConfig(),
    namespace: NS,
    name: LEASE,
    identity,
    timers: clock,
    random: () => 0,
    onStartedLeading: () => log.push(`${identity} started`),
    onStoppedLeading: () => log.push(`${identity} stopped`),
  });
  electors.push(e);
  return e;
}

const idle = () => Promise.all(electors.map((e) => e.whenIdle()));

/** Moves the clock in 500 ms steps, letting every attempt that falls due finish before the next step. */
async function run(ms: number): Promise<void> {
  await idle();
  for (let t = 0; t < ms; t += 500) {
    timers.advance(500);
    await idle();
  }
}

const lease = () =>
  api.get("coordination.k8s.io/v1", "Lease", LEASE, NS) as unknown as {
    spec: {
      holderIdentity?: string;
      renewTime?: string;
      acquireTime?: string;
      leaseDurationSeconds?: number;
      leaseTransitions?: number;
    };
  };
const leaders = () => electors.filter((e) => e.isLeader);

describe("LeaderElector", () => {
  it("lets exactly one of two candidates lead, and keeps renewing with micro-time stamps", async () => {
    const a = elector("a");
    const b = elector("b");
    a.start();
    b.start();
    await run(0);
    expect(leaders()).toHaveLength(1);
    const leader = leaders()[0] === a ? "a" : "b";
    expect(lease().spec).toMatchObject({
      holderIdentity: leader,
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });
    expect(lease().spec.acquireTime).toBe("2026-03-01T12:00:00.000000Z");
    expect(log).toEqual([`${leader} started`]);

    await run(20_000);
    expect(leaders()).toHaveLength(1);
    expect(lease().spec.holderIdentity).toBe(leader);
    expect(lease().spec.renewTime).toBe("2026-03-01T12:00:20.000000Z");
    expect(lease().spec.acquireTime).toBe("2026-03-01T12:00:00.000000Z");
    expect(a.leader).toBe(leader);
    expect(b.leader).toBe(leader);
    // Candidates only read a valid lease: every PUT came from the leader, every 2 s.
    const puts = api.requests.filter((r) => r.method === "PUT" && r.path.endsWith(`/leases/${LEASE}`));
    expect(puts).toHaveLength(10);
  });

  it("judges expiry by when it saw the record change, so a clock far ahead does not take a healthy lease", async () => {
    const a = elector("a");
    a.start();
    await run(0);
    // b's clock runs 20 s ahead: by its clock, a's renewTime is always older than the 15 s lease.
    const ahead: Timers = {
      now: () => timers.now() + 20_000,
      setTimeout: (fn, ms) => timers.setTimeout(fn, ms),
      clearTimeout: (h) => timers.clearTimeout(h),
    };
    const b = elector("b", ahead);
    b.start();
    await run(30_000);
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    expect(lease().spec).toMatchObject({ holderIdentity: "a", leaseTransitions: 0 });
    expect(log).toEqual(["a started"]);

    // Once a stops renewing, b takes over a lease duration after it last saw the record change.
    await a.stop({ release: false });
    await run(13_000);
    expect(b.isLeader).toBe(false);
    await run(6_000);
    expect(b.isLeader).toBe(true);
    expect(lease().spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
  });

  it("hands over only after the lease expires when the leader stops without releasing", async () => {
    const a = elector("a");
    a.start();
    await run(0);
    const b = elector("b");
    b.start();
    await run(4_000);
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);

    // Last renewal at +4 s, which b first sees on its try at +6 s: the lease is good until +21 s by b's
    // clock, and b takes it on its try at +22 s.
    await a.stop({ release: false });
    expect(log).toEqual(["a started", "a stopped"]);
    expect(lease().spec.holderIdentity).toBe("a");
    await run(16_000);
    expect(b.isLeader).toBe(false);
    await run(2_000);
    expect(b.isLeader).toBe(true);
    expect(lease().spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
    expect(lease().spec.acquireTime).toMatch(/^2026-03-01T12:00:2\d\.000000Z$/);
  });

  it("steps down when renewals fail past the renew deadline; the other takes over once the lease expires", async () => {
    const a = elector("a");
    a.start();
    await run(0);
    const b = elector("b");
    b.start();
    await run(2_000);
    expect(a.isLeader).toBe(true);
    // Renewed at +2 s. Renewals at +4, +6, +8 and +10 s fail; the deadline passes at +12 s.
    api.failNext("PUT", new RegExp(`/leases/${LEASE}$`), 500, 4);
    await run(9_500);
    expect(a.isLeader).toBe(true);
    await run(500);
    expect(a.isLeader).toBe(false);
    expect(log).toEqual(["a started", "a stopped"]);
    expect(b.isLeader).toBe(false);
    // b first saw the +2 s renewal on its try at +4 s: by its clock the lease runs until +19 s, and b takes
    // it on its next try, at +20 s.
    await run(6_000);
    expect(b.isLeader).toBe(false);
    await run(2_000);
    expect(b.isLeader).toBe(true);
    expect(leaders()).toEqual([b]);
    expect(log).toEqual(["a started", "a stopped", "b started"]);
  });

  it("steps down at once when another holder has taken the lease", async () => {
    const a = elector("a");
    a.start();
    await run(0);
    const current = api.get("coordination.k8s.io/v1", "Lease", LEASE, NS)!;
    api.update({
      ...current,
      spec: {
        ...(current.spec as object),
        holderIdentity: "intruder",
        renewTime: "2026-03-01T12:00:01.000000Z",
      },
    });
    await run(2_000);
    expect(a.isLeader).toBe(false);
    expect(a.leader).toBe("intruder");
    expect(log).toEqual(["a started", "a stopped"]);
  });

  it("release() hands the lease over at once", async () => {
    const a = elector("a");
    const b = elector("b");
    a.start();
    await run(0);
    b.start();
    await run(2_000);
    expect(a.isLeader).toBe(true);
    await a.release();
    expect(a.isLeader).toBe(false);
    expect(lease().spec.holderIdentity).toBe("");
    expect(lease().spec.leaseDurationSeconds).toBe(1);
    await run(2_000);
    expect(b.isLeader).toBe(true);
    expect(lease().spec).toMatchObject({ holderIdentity: "b", leaseDurationSeconds: 15 });
    expect(log).toEqual(["a started", "a stopped", "b started"]);
  });

  it("aborts the signal given to onStartedLeading when leadership ends", async () => {
    let signal: AbortSignal | undefined;
    const a = new LeaderElector({
      kubeConfig: api.kubeConfig(),
      namespace: NS,
      name: LEASE,
      identity: "a",
      timers,
      onStartedLeading: (s) => {
        signal = s;
      },
    });
    electors.push(a);
    a.start();
    await run(0);
    expect(signal?.aborted).toBe(false);
    await a.stop();
    expect(signal?.aborted).toBe(true);
  });
});
