import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { basicAuthHeader } from "./basic-auth.ts";
import type { RecordedEvent } from "./recorder.ts";
import { buildListener, type ListenerOptions } from "./server.ts";
import { heartbeat7 } from "./testdata.ts";

let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

function listener(opts: ListenerOptions = {}): FastifyInstance {
  app = buildListener({ now: () => Date.UTC(2026, 0, 1), ...opts });
  return app;
}

async function recorded(a: FastifyInstance): Promise<RecordedEvent[]> {
  return (await a.inject({ method: "GET", url: "/control/events" })).json().events;
}

describe("buildListener: accepted events", () => {
  it("answers 202 with an empty body and the version headers to a valid event", async () => {
    const a = listener();
    const res = await a.inject({
      method: "POST",
      url: "/eventListener/v7",
      payload: { event: heartbeat7() },
    });
    expect(res.statusCode).toBe(202);
    expect(res.body).toBe("");
    expect(res.headers["content-type"]).toBeUndefined();
    expect(res.headers).toMatchObject({
      "x-minorversion": "2",
      "x-patchversion": "1",
      "x-latestversion": "7.2.1",
    });
    expect(await recorded(a)).toEqual([
      { receivedAt: "2026-01-01T00:00:00.000Z", path: "/eventListener/v7", event: heartbeat7() },
    ]);
  });

  it("unpacks batches and records every event in arrival order", async () => {
    const a = listener();
    const post = (url: string, payload: object) => a.inject({ method: "POST", url, payload });
    expect((await post("/eventListener/v7", { event: heartbeat7(1) })).statusCode).toBe(202);
    const batch = await post("/eventListener/v7/eventBatch", { eventList: [heartbeat7(2), heartbeat7(3)] });
    expect(batch.statusCode).toBe(202);
    expect(batch.body).toBe("");
    expect(
      (await post("/eventListener/v5", { event: { commonEventHeader: { domain: "heartbeat" } } })).statusCode,
    ).toBe(202);
    const events = await recorded(a);
    expect(events.map((e) => e.path)).toEqual([
      "/eventListener/v7",
      "/eventListener/v7/eventBatch",
      "/eventListener/v7/eventBatch",
      "/eventListener/v5",
    ]);
    expect(
      events.slice(0, 3).map((e) => (e.event as ReturnType<typeof heartbeat7>).commonEventHeader),
    ).toMatchObject([
      { eventId: "heartbeat0000000001" },
      { eventId: "heartbeat0000000002" },
      { eventId: "heartbeat0000000003" },
    ]);
  });

  it("passes the body, its kind and the route's version to the injected validator", async () => {
    const calls: unknown[] = [];
    const a = listener({
      validate: (body, kind, version) => {
        calls.push([kind, version, body]);
        return [];
      },
    });
    await a.inject({ method: "POST", url: "/eventListener/v5/eventBatch", payload: { eventList: [{}] } });
    await a.inject({ method: "POST", url: "/eventListener/v7", payload: { event: 1 } });
    expect(calls).toEqual([
      ["batch", "5.4.1", { eventList: [{}] }],
      ["event", "7.2.1", { event: 1 }],
    ]);
  });
});

describe("buildListener: refused requests", () => {
  it("answers 400 SVC0002 to malformed JSON, naming the parse error", async () => {
    const a = listener();
    const res = await a.inject({
      method: "POST",
      url: "/eventListener/v7",
      headers: { "content-type": "application/json" },
      payload: '{"event": {',
    });
    expect(res.statusCode).toBe(400);
    const ex = res.json().requestError.serviceException;
    expect(ex).toMatchObject({ messageId: "SVC0002", text: "Bad Parameter (Incorrect JSON payload): %1" });
    expect(ex.variables[0]).toMatch(/JSON/);
    expect(await recorded(a)).toEqual([]);
  });

  it("answers 400 naming the field of an invalid event", async () => {
    const a = listener();
    const res = await a.inject({
      method: "POST",
      url: "/eventListener/v7",
      payload: { event: { header: {} } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      requestError: {
        serviceException: {
          messageId: "SVC0002",
          text: "Bad Parameter (JSON does not conform to schema): %1",
          variables: ["event.commonEventHeader: missing required object"],
        },
      },
    });
  });

  it("refuses a batch mixing domains and a batch sent to the single-event route", async () => {
    const a = listener();
    const mixed = await a.inject({
      method: "POST",
      url: "/eventListener/v7/eventBatch",
      payload: { eventList: [heartbeat7(1), heartbeat7(2, "measurement")] },
    });
    expect(mixed.statusCode).toBe(400);
    expect(mixed.json().requestError.serviceException.variables).toEqual([
      'eventList: events of one domain only, got ["heartbeat","measurement"]',
    ]);
    const wrong = await a.inject({
      method: "POST",
      url: "/eventListener/v7",
      payload: { eventList: [heartbeat7()] },
    });
    expect(wrong.json().requestError.serviceException.variables).toEqual([
      '(root): unknown field "eventList"',
      '(root): missing required field "event"',
    ]);
  });

  it("answers 400 to a body that is not application/json", async () => {
    const a = listener();
    const res = await a.inject({
      method: "POST",
      url: "/eventListener/v7",
      headers: { "content-type": "text/plain" },
      payload: JSON.stringify({ event: heartbeat7() }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().requestError.serviceException.variables).toEqual(["Content-Type: text/plain"]);
  });

  it("answers 400 to an API version it does not serve", async () => {
    const res = await listener().inject({
      method: "POST",
      url: "/eventListener/v4",
      payload: { event: heartbeat7() },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().requestError.serviceException).toMatchObject({
      messageId: "SVC0002",
      variables: ["v4"],
    });
  });

  it("answers 413 POL9003 to a body over 1 MiB and accepts one just under", async () => {
    const a = listener();
    const pad = (size: number) => {
      const shell = JSON.stringify({ event: { commonEventHeader: { domain: "other", pad: "" } } });
      return shell.replace('"pad":""', `"pad":"${"x".repeat(size - shell.length)}"`);
    };
    const big = await a.inject({
      method: "POST",
      url: "/eventListener/v7",
      headers: { "content-type": "application/json" },
      payload: pad(1024 * 1024 + 1),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().requestError.policyException).toEqual({
      messageId: "POL9003",
      text: "Message size exceeds the limit of %1 bytes",
      variables: ["1048576"],
    });
    const fits = await a.inject({
      method: "POST",
      url: "/eventListener/v7",
      headers: { "content-type": "application/json" },
      payload: pad(1024 * 1024),
    });
    expect(fits.statusCode).toBe(202);
  });
});

describe("buildListener: basic authentication", () => {
  const auth = { username: "ves", password: "s3cret:pw" };
  const post = (a: FastifyInstance, headers: Record<string, string>) =>
    a.inject({ method: "POST", url: "/eventListener/v7", headers, payload: { event: heartbeat7() } });

  it("answers 401 POL2000 with WWW-Authenticate without credentials", async () => {
    const res = await post(listener({ auth }), {});
    expect(res.statusCode).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Basic realm="vesmon-listener"');
    expect(res.json().requestError.policyException).toEqual({
      messageId: "POL2000",
      text: "Unauthorized user: %1",
      variables: ["Authorization header missing"],
    });
  });

  it("answers 401 to a wrong password or user, without echoing them", async () => {
    const a = listener({ auth });
    for (const creds of [
      { username: "ves", password: "guess" },
      { username: "other", password: auth.password },
    ]) {
      const res = await post(a, { authorization: basicAuthHeader(creds) });
      expect(res.statusCode).toBe(401);
      expect(res.body).not.toContain("guess");
      expect(res.json().requestError.policyException.variables).toEqual(["invalid credentials"]);
    }
    expect(await recorded(a)).toEqual([]);
  });

  it("answers 202 to the right credentials", async () => {
    const a = listener({ auth });
    expect((await post(a, { authorization: basicAuthHeader(auth) })).statusCode).toBe(202);
    expect(await recorded(a)).toHaveLength(1);
  });
});
