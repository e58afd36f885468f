import type { IncomingMessage } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import { isRetryableStatus, parseRetryAfter, type SendResult } from "./send-result.ts";

/** Credentials and TLS material of one VES sink, already read from files. Never logged. */
export interface TransportSecurity {
  basicAuth?: { username: string; password: string };
  /** CA bundle (PEM) to verify the collector with; the system CAs when absent. */
  ca?: Buffer;
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
  /** Skip certificate verification; only when the profile says so explicitly. */
  insecureSkipVerify?: boolean;
}

/** Posts JSON bodies; one instance per sink keeps connections alive between requests. */
export interface Transport {
  post(url: string, body: Buffer, timeoutMs: number): Promise<SendResult>;
  close(): void;
}

const MAX_ERROR_BODY = 4096;

/** Reads a requestError text out of a VES error body, for the status report. */
function describeBody(body: string): string {
  try {
    const e = (
      JSON.parse(body) as { requestError?: Record<string, { text?: string; variables?: unknown[] }> }
    ).requestError;
    const inner = e && Object.values(e)[0];
    if (inner?.text) {
      let text = inner.text;
      (inner.variables ?? []).forEach((v, i) => {
        text = text.replace(`%${i + 1}`, String(v));
      });
      return text;
    }
  } catch {
    // Not a VES error body: show it as it came.
  }
  return body.slice(0, 200);
}

// node:http through getBuiltinModule, not an ES import, which would load undici and tls (agent/listen.ts says
// why); node:https (tls: ~3 MiB RSS) only once an https URL is posted to.
const http = process.getBuiltinModule("node:http");

/** A Transport over node:http/https with keep-alive, basic auth and (mutual) TLS. */
export class HttpTransport implements Transport {
  readonly #security: TransportSecurity;
  readonly #http = new http.Agent({ keepAlive: true, maxSockets: 1 });
  #https: HttpsAgent | undefined;

  constructor(security: TransportSecurity = {}) {
    this.#security = security;
  }

  #httpsAgent(): HttpsAgent {
    const security = this.#security;
    this.#https ??= new (process.getBuiltinModule("node:https").Agent)({
      keepAlive: true,
      maxSockets: 1,
      ...(security.ca ? { ca: security.ca } : {}),
      ...(security.cert ? { cert: security.cert } : {}),
      ...(security.key ? { key: security.key } : {}),
      rejectUnauthorized: security.insecureSkipVerify !== true,
    });
    return this.#https;
  }

  post(url: string, body: Buffer, timeoutMs: number): Promise<SendResult> {
    const target = new URL(url);
    const https = target.protocol === "https:";
    const headers: Record<string, string | number> = {
      "content-type": "application/json",
      "content-length": body.length,
      accept: "application/json",
    };
    const auth = this.#security.basicAuth;
    if (auth)
      headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = (https ? process.getBuiltinModule("node:https").request : http.request)(
        target,
        { method: "POST", headers, agent: https ? this.#httpsAgent() : this.#http },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            if (size < MAX_ERROR_BODY) chunks.push(c);
            size += c.length;
          });
          res.on("error", (err) => done({ status: "retryable", error: `response: ${err.message}` }));
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return done({ status: "success", httpStatus: status });
            const text = `HTTP ${status}: ${describeBody(Buffer.concat(chunks).toString("utf8"))}`;
            if (isRetryableStatus(status)) {
              const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
              return done({
                status: "retryable",
                error: text,
                httpStatus: status,
                ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
              });
            }
            done({ status: "failure", error: text, httpStatus: status });
          });
        },
      );
      // The whole exchange, connect to last byte, must fit in the timeout; a slow collector is a failed attempt.
      const timer = setTimeout(() => {
        req.destroy();
        done({ status: "retryable", error: `no answer from ${target.origin} within ${timeoutMs} ms` });
      }, timeoutMs);
      req.on("error", (err: NodeJS.ErrnoException) =>
        done({ status: "retryable", error: `${target.origin}: ${err.code ?? ""} ${err.message}`.trim() }),
      );
      req.end(body);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https?.destroy();
  }
}
