import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../../test/helpers/tls.ts";
import { HttpTransport } from "./http-transport.ts";
import { parseRetryAfter } from "./send-result.ts";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function serve(
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): Promise<string> {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => handler(req, body, res));
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const body = Buffer.from('{"event":{}}');

describe("HttpTransport", () => {
  it("posts JSON with basic auth and counts 2xx as delivered", async () => {
    let seen: { auth?: string; type?: string; body?: string } = {};
    const url = await serve((req, b, res) => {
      seen = { auth: req.headers.authorization, type: req.headers["content-type"], body: b };
      res.writeHead(202).end();
    });
    const t = new HttpTransport({ basicAuth: { username: "ves", password: "s3cret" } });
    expect(await t.post(`${url}/eventListener/v7`, body, 2000)).toEqual({
      status: "success",
      httpStatus: 202,
    });
    expect(seen).toEqual({
      auth: `Basic ${Buffer.from("ves:s3cret").toString("base64")}`,
      type: "application/json",
      body: '{"event":{}}',
    });
    t.close();
  });

  it("retries 5xx and 429, with the Retry-After the server asks for", async () => {
    const answers = [
      [503, { "retry-after": "7" }],
      [429, { "retry-after": "2" }],
      [500, {}],
    ] as const;
    const url = await serve((_req, _b, res) => {
      const [status, headers] = answers[Math.min(count++, 2)]!;
      res.writeHead(status, headers).end();
    });
    let count = 0;
    const t = new HttpTransport();
    expect(await t.post(url, body, 2000)).toMatchObject({
      status: "retryable",
      httpStatus: 503,
      retryAfterMs: 7000,
    });
    expect(await t.post(url, body, 2000)).toMatchObject({
      status: "retryable",
      httpStatus: 429,
      retryAfterMs: 2000,
    });
    const plain = await t.post(url, body, 2000);
    expect(plain).toMatchObject({ status: "retryable", httpStatus: 500 });
    expect("retryAfterMs" in plain).toBe(false);
    t.close();
  });

  it("treats other 4xx as permanent and reports the VES requestError text", async () => {
    const url = await serve((_req, _b, res) => {
      res.writeHead(400, { "content-type": "application/json" }).end(
        JSON.stringify({
          requestError: {
            serviceException: {
              messageId: "SVC0002",
              text: "Bad Parameter: %1",
              variables: ["event.commonEventHeader.domain"],
            },
          },
        }),
      );
    });
    const t = new HttpTransport();
    expect(await t.post(url, body, 2000)).toEqual({
      status: "failure",
      httpStatus: 400,
      error: "HTTP 400: Bad Parameter: event.commonEventHeader.domain",
    });
    t.close();
  });

  it("gives up on a collector that does not answer in time, and on one that is not there, as retryable", async () => {
    const url = await serve(() => {
      // never answers
    });
    const t = new HttpTransport();
    expect(await t.post(url, body, 200)).toMatchObject({
      status: "retryable",
      error: expect.stringMatching(/within 200 ms/),
    });
    const port = (server!.address() as AddressInfo).port;
    server!.closeAllConnections();
    await new Promise((r) => server!.close(r));
    server = undefined;
    expect(await t.post(`http://127.0.0.1:${port}/`, body, 2000)).toMatchObject({
      status: "retryable",
      error: expect.stringMatching(/ECONNREFUSED/),
    });
    t.close();
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfter("120")).toBe(120_000);
    expect(
      parseRetryAfter("Wed, 21 Oct 2026 07:28:10 GMT", Date.parse("Wed, 21 Oct 2026 07:28:00 GMT")),
    ).toBe(10_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe("HttpTransport over TLS", () => {
  let pki: TestPki;
  let tlsServer: HttpsServer | undefined;
  beforeAll(async () => {
    pki = await makeTestPki();
  });
  afterEach(async () => {
    tlsServer?.closeAllConnections();
    await new Promise((r) => tlsServer?.close(r) ?? r(undefined));
  });

  /** An HTTPS collector that asks every client for a certificate signed by the test CA. */
  async function mutualTls(): Promise<string> {
    tlsServer = createHttpsServer(
      { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        req.resume();
        req.on("end", () => res.writeHead(202).end());
      },
    );
    await new Promise<void>((r) => tlsServer!.listen(0, "127.0.0.1", r));
    return `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}/eventListener/v7`;
  }

  it("delivers with the CA and a client certificate (mutual TLS)", async () => {
    const url = await mutualTls();
    const t = new HttpTransport({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });
    expect(await t.post(url, body, 5000)).toEqual({ status: "success", httpStatus: 202 });
    t.close();
  });

  it("verifies the collector's certificate unless told not to", async () => {
    const url = await mutualTls();
    const systemCas = new HttpTransport({ cert: pki.clientCert, key: pki.clientKey });
    expect(await systemCas.post(url, body, 5000)).toMatchObject({
      status: "retryable",
      error: expect.stringMatching(/certificate/i),
    });
    systemCas.close();
    const insecure = new HttpTransport({
      cert: pki.clientCert,
      key: pki.clientKey,
      insecureSkipVerify: true,
    });
    expect(await insecure.post(url, body, 5000)).toEqual({ status: "success", httpStatus: 202 });
    insecure.close();
  });

  it("is refused by a collector that wants a client certificate it does not have", async () => {
    const url = await mutualTls();
    const t = new HttpTransport({ ca: pki.ca });
    expect((await t.post(url, body, 5000)).status).toBe("retryable");
    t.close();
  });
});
