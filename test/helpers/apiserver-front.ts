import { request as httpRequest } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";

/** Settings of an ApiServerFront. */
export interface ApiServerFrontOptions {
  /** The fake API server's plain-HTTP base URL (FakeApiServer.url). */
  target: string;
  /** PEM server certificate and key; the certificate names the address the front listens on. */
  cert: Buffer;
  key: Buffer;
  /** Whether a bearer token is one the cluster issued (a service-account token). */
  acceptToken: (token: string) => boolean;
}

/**
 * HTTPS in front of the fake API server, as a pod sees a real one: `loadFromCluster()` speaks HTTPS to
 * KUBERNETES_SERVICE_HOST:PORT with the mounted CA and bearer token. Requests without an accepted token get
 * the API server's 401 Status; the others are passed through unchanged, watch streams included.
 */
export class ApiServerFront {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Requests refused for want of an accepted token. */
  unauthorized = 0;

  constructor(opts: ApiServerFrontOptions) {
    const target = new URL(opts.target);
    this.#server = createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (token === undefined || !opts.acceptToken(token)) {
        this.unauthorized++;
        res.writeHead(401, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            message: "Unauthorized",
            reason: "Unauthorized",
            code: 401,
          }),
        );
        return;
      }
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
    });
    this.#server.on("connection", (s: Socket) => {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
    });
  }

  /** Listens on `host`, an ephemeral port; resolves with the port. */
  start(host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(0, host, () => resolve((this.#server.address() as AddressInfo).port));
    });
  }

  /** Stops listening and cuts every connection. */
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
