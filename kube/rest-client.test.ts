import { once } from "node:events";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KubeApiError, KubeRestClient } from "./rest-client.ts";

/** One request as the server saw it. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let server: Server | undefined;
let client: KubeRestClient | undefined;
let dir: string | undefined;
afterEach(async () => {
  client?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: Seen[] = [];
  server = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
    handler(req, res, body);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, url };
}

const json = (res: ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("KubeRestClient requests", () => {
  it("sends the query, Accept, body and bearer token, and returns the JSON answer", async () => {
    const { seen, url } = await serve((_req, res) => json(res, 200, { items: [], metadata: {} }));
    client = new KubeRestClient({ server: `${url}/prefix/`, token: "t0ken" });
    const r = await client.request("GET", "/api/v1/pods", {
      query: { fieldSelector: "spec.nodeName=n1", labelSelector: undefined, limit: 5 },
      accept: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
    });
    expect(r).toEqual({ items: [], metadata: {} });
    await client.request("PATCH", "/apis/g/v1/things/a/status", {
      body: [{ op: "add", path: "/status", value: {} }],
      contentType: "application/json-patch+json",
    });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      "GET /prefix/api/v1/pods?fieldSelector=spec.nodeName%3Dn1&limit=5",
      "PATCH /prefix/apis/g/v1/things/a/status",
    ]);
    expect(seen[0]?.headers.accept).toBe("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1");
    expect(seen[0]?.headers.authorization).toBe("Bearer t0ken");
    expect(seen[1]?.headers["content-type"]).toBe("application/json-patch+json");
    expect(JSON.parse(seen[1]?.body ?? "")).toEqual([{ op: "add", path: "/status", value: {} }]);
    // One keep-alive connection serves both.
    expect(seen[1]?.headers.connection).toBe("keep-alive");
  });

  it("rejects a non-2xx answer with its HTTP code and Status, as callers check `code`", async () => {
    const status = {
      kind: "Status",
      status: "Failure",
      code: 404,
      reason: "NotFound",
      message: 'nodemonitors "n1" not found',
    };
    const { url } = await serve((req, res) =>
      req.url?.startsWith("/plain") ? res.writeHead(503).end("busy") : json(res, 404, status),
    );
    client = new KubeRestClient({ server: url });
    const err = await client
      .request("GET", "/apis/vesmon.io/v1alpha1/nodemonitors/n1")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).code).toBe(404);
    expect((err as KubeApiError).status).toEqual(status);
    expect((err as Error).message).toBe(
      'GET /apis/vesmon.io/v1alpha1/nodemonitors/n1: 404 NotFound: nodemonitors "n1" not found',
    );
    const plain = (await client.request("GET", "/plain").catch((e: unknown) => e)) as KubeApiError;
    expect([plain.code, plain.status, plain.message]).toEqual([
      503,
      undefined,
      "GET /plain: 503 Service Unavailable",
    ]);
  });

  it("gives up on a server that does not answer", async () => {
    const { url } = await serve(() => {});
    client = new KubeRestClient({ server: url }, { timeoutMs: 100 });
    await expect(client.request("GET", "/api")).rejects.toThrow("GET /api: no answer within 100 ms");
  });

  it("reads a token file again when it is replaced, as the kubelet rotates a bound token", async () => {
    dir = await mkdtemp(join(tmpdir(), "vesmon-token-"));
    const file = join(dir, "token");
    await writeFile(file, "first\n");
    const { seen, url } = await serve((_req, res) => json(res, 200, {}));
    client = new KubeRestClient({ server: url, tokenFile: file }, { tokenCheckMs: 0 });
    await client.request("GET", "/api");
    await writeFile(join(dir, "next"), "second\n");
    await rename(join(dir, "next"), file);
    await client.request("GET", "/api");
    expect(seen.map((s) => s.headers.authorization)).toEqual(["Bearer first", "Bearer second"]);
    // A token that cannot be read fails the request without naming any token.
    const missing = new KubeRestClient({ server: url, tokenFile: join(dir, "absent") });
    await expect(missing.request("GET", "/api")).rejects.toThrow(
      /cannot read the token file .*absent: ENOENT/,
    );
  });
});

/** Runs a watch to its end; returns the events and what ended it. */
function watch(c: KubeRestClient, path = "/apis/g/v1/things", accept?: string) {
  const events: string[] = [];
  let controller: AbortController | undefined;
  const done = new Promise<unknown>((resolve) => {
    void c
      .watch(
        path,
        { resourceVersion: "5", allowWatchBookmarks: true },
        accept,
        (type, object) => {
          events.push(`${type} ${JSON.stringify(object)}`);
          if (type === "ERROR") controller?.abort();
        },
        resolve,
      )
      .then((a) => {
        controller = a;
      });
  });
  return { events, done, abort: () => controller?.abort() };
}

describe("KubeRestClient watches", () => {
  it("parses events split across chunks, multi-byte characters included, until the server ends the stream", async () => {
    const ev = (type: string, name: string) =>
      `${JSON.stringify({ type, object: { metadata: { name } } })}\n`;
    const stream = `${ev("ADDED", "a")}${ev("MODIFIED", "é-ü")}not json\n\n${ev("BOOKMARK", "b")}`;
    const bytes = Buffer.from(stream);
    const { seen, url } = await serve(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders();
      // Cut every 7 bytes: lines and the two-byte characters fall across chunks.
      for (let i = 0; i < bytes.length; i += 7) {
        res.write(bytes.subarray(i, i + 7));
        await sleep(1);
      }
      res.end(ev("DELETED", "a").trimEnd());
    });
    client = new KubeRestClient({ server: url, token: "t" });
    const w = watch(
      client,
      "/apis/g/v1/things",
      "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    );
    expect(await w.done).toBeNull();
    expect(w.events).toEqual([
      'ADDED {"metadata":{"name":"a"}}',
      'MODIFIED {"metadata":{"name":"é-ü"}}',
      'BOOKMARK {"metadata":{"name":"b"}}',
      'DELETED {"metadata":{"name":"a"}}',
    ]);
    expect(seen[0]?.url).toBe("/apis/g/v1/things?resourceVersion=5&allowWatchBookmarks=true&watch=true");
    expect(seen[0]?.headers.accept).toBe("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1");
  });

  it("delivers an ERROR event, and nothing after the handler aborts", async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200);
      res.write(
        [
          { type: "ADDED", object: { metadata: { name: "a" } } },
          { type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } },
          { type: "ADDED", object: { metadata: { name: "late" } } },
        ]
          .map((e) => `${JSON.stringify(e)}\n`)
          .join(""),
      );
    });
    client = new KubeRestClient({ server: url });
    const w = watch(client);
    expect(((await w.done) as Error).name).toBe("AbortError");
    expect(w.events).toEqual([
      'ADDED {"metadata":{"name":"a"}}',
      'ERROR {"kind":"Status","code":410,"reason":"Expired"}',
    ]);
  });

  it("stops on abort, closing the connection", async () => {
    let closed = false;
    const { url } = await serve((req, res) => {
      res.writeHead(200);
      res.flushHeaders();
      req.socket.on("close", () => {
        closed = true;
      });
    });
    client = new KubeRestClient({ server: url });
    const w = watch(client);
    await sleep(50);
    w.abort();
    expect(((await w.done) as Error).name).toBe("AbortError");
    const end = Date.now() + 2000;
    while (!closed && Date.now() < end) await sleep(10);
    expect(closed).toBe(true);
    expect(w.events).toEqual([]);
  });

  it("ends with the API's error when the watch is refused, and with an error when the connection breaks", async () => {
    const { url } = await serve((req, res) => {
      if (req.url?.startsWith("/forbidden"))
        return json(res, 403, { kind: "Status", code: 403, reason: "Forbidden", message: "no" });
      res.writeHead(200);
      res.write('{"type":"ADDED","object":{}}\n{"type":');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    client = new KubeRestClient({ server: url });
    const refused = (await watch(client, "/forbidden").done) as KubeApiError;
    expect([refused.code, refused.status?.reason]).toEqual([403, "Forbidden"]);
    const broken = watch(client, "/broken");
    expect(((await broken.done) as Error).message).toMatch(/aborted|closed mid-stream/);
    expect(broken.events).toEqual(["ADDED {}"]);
  });
});
