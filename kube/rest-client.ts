import type { ClientRequest, Agent as HttpAgent, IncomingMessage } from "node:http";
import type {
  KubeApi,
  KubeMethod,
  KubeQuery,
  KubeRequestOptions,
  WatchDoneHandler,
  WatchEventHandler,
} from "./api.ts";
import { FileToken } from "./file-token.ts";
import type { RestConfig } from "./rest-config.ts";
import { parseWatchStream } from "./watch-stream.ts";

// Builtins through getBuiltinModule, not ES imports: an ES import of node:http loads undici, http2 and tls
// through its lazy WebSocket getter (agent/listen.ts), and node:https is needed only for an https server.
const http = process.getBuiltinModule("node:http");

/** A metav1.Status, as the API server explains a refusal. */
export interface KubeStatus {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: unknown;
}

/** A non-2xx answer: `code` is the HTTP status (as client-node's ApiException), `status` the Status body. */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  readonly code: number;
  readonly status: KubeStatus | undefined;

  constructor(code: number, status: KubeStatus | undefined, what: string) {
    super(
      `${what}: ${code} ${status?.reason ?? http.STATUS_CODES[code] ?? ""}${status?.message ? `: ${status.message}` : ""}`,
    );
    this.code = code;
    this.status = status;
  }
}

/** Settings of a KubeRestClient. */
export interface KubeRestClientOptions {
  /** A request's whole time, and a watch's until the server answers, ms. Defaults to 30 s. */
  timeoutMs?: number;
  /** How often a token file is looked at for a new token, at most, ms. Defaults to 10 s. */
  tokenCheckMs?: number;
  /** Defaults to `vesmon`. */
  userAgent?: string;
}

/**
 * A small Kubernetes REST client over `node:http(s)` with a keep-alive agent: JSON requests and NDJSON watches,
 * authenticated by a bearer token (fixed or from a file) or a client certificate. The agent uses it instead
 * of client-node, whose import alone costs ~80 MiB RSS (docs/architecture.md, "The agent's API client").
 */
export class KubeRestClient implements KubeApi {
  readonly #base: URL;
  readonly #agent: HttpAgent;
  readonly #https: boolean;
  readonly #token: (() => Promise<string | undefined>) | undefined;
  readonly #timeoutMs: number;
  readonly #userAgent: string;

  constructor(config: RestConfig, opts: KubeRestClientOptions = {}) {
    this.#base = new URL(config.server);
    this.#https = this.#base.protocol === "https:";
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#userAgent = opts.userAgent ?? "vesmon";
    this.#agent = this.#https
      ? new (process.getBuiltinModule("node:https").Agent)({
          keepAlive: true,
          ...(config.ca ? { ca: config.ca } : {}),
          ...(config.cert ? { cert: config.cert, key: config.key } : {}),
          ...(config.tlsServerName ? { servername: config.tlsServerName } : {}),
          rejectUnauthorized: !config.insecureSkipTLSVerify,
        })
      : new http.Agent({ keepAlive: true });
    if (config.tokenFile) {
      const file = new FileToken(config.tokenFile, opts.tokenCheckMs ?? 10_000);
      this.#token = () => file.get();
    } else if (config.token) {
      const token = config.token;
      this.#token = async () => token;
    }
  }

  /** Closes every connection, open watches included (at shutdown). */
  close(): void {
    this.#agent.destroy();
  }

  async #open(method: string, path: string, query: KubeQuery | undefined, headers: Record<string, string>) {
    const token = await this.#token?.();
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) search.set(k, String(v));
    const qs = search.size ? `?${search}` : "";
    return (this.#https ? process.getBuiltinModule("node:https").request : http.request)({
      protocol: this.#base.protocol,
      hostname: this.#base.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: this.#base.port || (this.#https ? 443 : 80),
      path: `${this.#base.pathname.replace(/\/$/, "")}${path}${qs}`,
      method,
      agent: this.#agent,
      headers: {
        ...headers,
        "user-agent": this.#userAgent,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
  }

  async request<T>(method: KubeMethod, path: string, opts: KubeRequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: opts.accept ?? "application/json" };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
      headers["content-type"] = opts.contentType ?? "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    const req = await this.#open(method, path, opts.query, headers);
    const what = `${method} ${path}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => req.destroy(new Error(`${what}: no answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      ).unref();
      req.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.on("response", (res) => {
        readBody(res).then((text) => {
          clearTimeout(timer);
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) {
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch (err) {
              reject(new Error(`${what}: the answer is not JSON: ${(err as Error).message}`));
            }
          } else reject(new KubeApiError(code, statusOf(text), what));
        }, reject);
      });
      req.end(payload);
    });
  }

  async watch(
    path: string,
    query: KubeQuery,
    accept: string | undefined,
    onEvent: WatchEventHandler,
    onDone: WatchDoneHandler,
  ): Promise<AbortController> {
    const controller = new AbortController();
    let req: ClientRequest | undefined;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      // A stream that ended cleanly leaves its connection to the pool; any other is cut.
      if (err !== null) req?.destroy();
      onDone(err);
    };
    try {
      req = await this.#open(
        "GET",
        path,
        { ...query, watch: true },
        { accept: accept ?? "application/json" },
      );
    } catch (err) {
      // After the caller holds the controller, as when the request itself fails.
      setImmediate(() => end(err));
      return controller;
    }
    const what = `watch ${path}`;
    controller.signal.addEventListener("abort", () => end(controller.signal.reason), { once: true });
    timer = setTimeout(
      () => end(new Error(`${what}: no answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
    timer.unref();
    req.on("error", end);
    req.on("response", (res) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        readBody(res).then((text) => end(new KubeApiError(res.statusCode ?? 0, statusOf(text), what)), end);
        return;
      }
      parseWatchStream(res, () => ended, onEvent, end);
    });
    req.end();
    return controller;
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
  });
}

function statusOf(text: string): KubeStatus | undefined {
  try {
    const body = JSON.parse(text) as KubeStatus;
    return body && typeof body === "object" && body.kind === "Status" ? body : undefined;
  } catch {
    return undefined;
  }
}
