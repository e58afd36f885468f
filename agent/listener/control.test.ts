import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_FAULTS } from "./faults.ts";
import { buildListener, type ListenerOptions } from "./server.ts";
import { heartbeat7 } from "./testdata.ts";

let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

function listener(opts: ListenerOptions = {}): FastifyInstance {
  app = buildListener(opts);
  return app;
}

const send = (a: FastifyInstance) =>
  a.inject({ method: "POST", url: "/eventListener/v7", payload: { event: heartbeat7() } });
const putFaults = (a: FastifyInstance, payload: object) =>
  a.inject({ method: "PUT", url: "/control/faults", payload });

describe("fault knobs on the VES routes", () => {
  it("waits latencyMs before answering, through the injected sleep", async () => {
    const waits: number[] = [];
    let release = () => {};
    const sleep = (ms: number) => {
      waits.push(ms);
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    };
    const a = listener({ faults: { latencyMs: 250 }, sleep });
    let answered = false;
    const reply = send(a).then((res) => {
      answered = true;
      return res;
    });
    await vi.waitFor(() => expect(waits).toEqual([250]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    release();
    expect((await reply).statusCode).toBe(202);
  });

  it("answers 429 with Retry-After while throttling", async () => {
    const a = listener({ faults: { throttleNext: 1, retryAfter: 12 } });
    const res = await send(a);
    expect(res.statusCode).toBe(429);
    expect(res.headers["retry-after"]).toBe("12");
    expect(res.json().requestError.serviceException.messageId).toBe("SVC1000");
    expect((await send(a)).statusCode).toBe(202);
  });

  it("throttles at throttleRate with the injected random source", async () => {
    const a = listener({
      faults: { throttleRate: 0.5 },
      random: vi.fn().mockReturnValueOnce(0.4).mockReturnValue(0.6),
    });
    expect((await send(a)).statusCode).toBe(429);
    expect((await send(a)).statusCode).toBe(202);
  });

  it("fails exactly failNext requests with errorStatus, then accepts", async () => {
    const a = listener({ faults: { failNext: 2 } });
    expect([(await send(a)).statusCode, (await send(a)).statusCode, (await send(a)).statusCode]).toEqual([
      503, 503, 202,
    ]);
    const events = (await a.inject({ method: "GET", url: "/control/events" })).json().events;
    expect(events).toHaveLength(1);
  });

  it("fails at errorRate with the configured status", async () => {
    const a = listener({ faults: { errorRate: 0.25, errorStatus: 500 }, random: () => 0.1 });
    const res = await send(a);
    expect(res.statusCode).toBe(500);
    expect(res.json().requestError.serviceException).toMatchObject({ messageId: "SVC1000" });
  });

  it("applies faults before authentication", async () => {
    const a = listener({ auth: { username: "u", password: "p" }, faults: { failNext: 1 } });
    expect((await send(a)).statusCode).toBe(503);
    expect((await send(a)).statusCode).toBe(401);
  });

  it("leaves the control routes alone", async () => {
    const a = listener({ faults: { failNext: 5 } });
    expect((await a.inject({ method: "GET", url: "/control/faults" })).statusCode).toBe(200);
    expect((await a.inject({ method: "GET", url: "/control/faults" })).json().failNext).toBe(5);
  });
});

describe("control API", () => {
  it("round-trips the fault knobs", async () => {
    const a = listener();
    expect((await a.inject({ method: "GET", url: "/control/faults" })).json()).toEqual(DEFAULT_FAULTS);
    const put = await putFaults(a, { failNext: 1, errorStatus: 502 });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ ...DEFAULT_FAULTS, failNext: 1, errorStatus: 502 });
    expect((await send(a)).statusCode).toBe(502);
    expect((await a.inject({ method: "GET", url: "/control/faults" })).json().failNext).toBe(0);
    await putFaults(a, { latencyMs: 5 });
    expect((await a.inject({ method: "GET", url: "/control/faults" })).json()).toMatchObject({
      latencyMs: 5,
      errorStatus: 502,
    });
    expect((await a.inject({ method: "DELETE", url: "/control/faults" })).json()).toEqual(DEFAULT_FAULTS);
  });

  it("refuses invalid knobs with 400 naming them, changing nothing", async () => {
    const a = listener();
    const res = await putFaults(a, { errorRate: 3, failNext: 1 });
    expect(res.statusCode).toBe(400);
    expect(res.json().requestError.serviceException.variables).toEqual(["errorRate: must be within [0, 1]"]);
    expect((await a.inject({ method: "GET", url: "/control/faults" })).json().failNext).toBe(0);
  });

  it("refuses downFor when no process owns the socket", async () => {
    const res = await putFaults(listener(), { downFor: 1 });
    expect(res.statusCode).toBe(400);
    expect(res.json().requestError.serviceException.variables).toEqual([
      "downFor: only a listening process can go down",
    ]);
  });

  it("lists and clears the recorded events", async () => {
    const a = listener({ maxEvents: 2 });
    for (let i = 0; i < 3; i++) await send(a);
    const listed = (await a.inject({ method: "GET", url: "/control/events" })).json();
    expect(listed.events).toHaveLength(2);
    expect(listed.dropped).toBe(1);
    expect((await a.inject({ method: "DELETE", url: "/control/events" })).statusCode).toBe(204);
    expect((await a.inject({ method: "GET", url: "/control/events" })).json()).toEqual({
      events: [],
      dropped: 0,
    });
  });

  it("counts answers per status code", async () => {
    const a = listener({ faults: { failNext: 1, throttleNext: 1 } });
    for (let i = 0; i < 4; i++) await send(a);
    await a.inject({ method: "POST", url: "/eventListener/v7", payload: { nope: 1 } });
    expect((await a.inject({ method: "GET", url: "/control/stats" })).json()).toEqual({
      responses: { "202": 2, "400": 1, "429": 1, "503": 1 },
      dropped: 0,
      accepted: 2,
    });
    expect((await a.inject({ method: "DELETE", url: "/control/stats" })).statusCode).toBe(204);
    expect((await a.inject({ method: "GET", url: "/control/stats" })).json().responses).toEqual({});
  });

  it("is absent with control: false", async () => {
    const res = await listener({ control: false }).inject({ method: "GET", url: "/control/faults" });
    expect(res.statusCode).toBe(404);
  });
});
