import { afterEach, describe, expect, it, vi } from "vitest";
import { ListenerProcess, type ListenerProcessOptions } from "./process.ts";
import { heartbeat7 } from "./testdata.ts";

let proc: ListenerProcess | undefined;

afterEach(async () => {
  await proc?.close();
  proc = undefined;
});

async function started(opts: ListenerProcessOptions = {}): Promise<ListenerProcess> {
  proc = new ListenerProcess({ port: 0, ...opts });
  await proc.start();
  return proc;
}

function post(url: string): Promise<Response> {
  return fetch(`${url}/eventListener/v7`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ event: heartbeat7() }),
  });
}

/** The code of the socket error behind a failed fetch (undici puts it in `cause`). */
async function failure(p: Promise<Response>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TypeError);
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? String(cause);
}

describe("ListenerProcess", () => {
  it("listens on a free port and answers real HTTP requests", async () => {
    const p = await started();
    expect(p.state).toBe("up");
    expect(p.url).toBe(`http://127.0.0.1:${p.port}`);
    const res = await post(p.url);
    expect(res.status).toBe(202);
    expect(await res.text()).toBe("");
  });

  it("drops the connection without an answer: the client sees a socket error", async () => {
    const p = await started({ faults: { dropConnectionNext: 1 } });
    expect(await failure(post(p.url))).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
    expect((await post(p.url)).status).toBe(202);
    const stats = await (await fetch(`${p.url}/control/stats`)).json();
    expect(stats).toMatchObject({ dropped: 1, responses: { "202": 1 } });
  });

  it("goes down on PUT downFor (ECONNREFUSED) and comes back on the same port", async () => {
    const p = await started();
    const port = p.port;
    const put = await fetch(`${p.url}/control/faults`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ downFor: 1 }),
    });
    expect(put.status).toBe(200);
    await vi.waitFor(() => expect(p.state).toBe("down"));
    expect(await failure(post(p.url))).toBe("ECONNREFUSED");
    await vi.waitFor(() => expect(p.state).toBe("up"), { timeout: 10_000, interval: 50 });
    expect(p.port).toBe(port);
    expect((await post(p.url)).status).toBe(202);
  });

  it("comes back when the injected timer fires, and closes cleanly while down", async () => {
    let fire = () => {};
    const timers = {
      setTimeout: (fn: () => void, ms: number) => {
        expect(ms).toBe(30_000);
        fire = fn;
        return 1;
      },
      clearTimeout: () => {},
    };
    const p = await started({ timers });
    await p.goDown(30);
    expect(await failure(post(p.url))).toBe("ECONNREFUSED");
    fire();
    await p.settled();
    expect(p.state).toBe("up");
    expect((await post(p.url)).status).toBe(202);
    await p.goDown(30);
    await p.close();
    expect(p.state).toBe("closed");
  });
});
