import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { buildListener, type ListenerOptions } from "./server.ts";

/** Timers a ListenerProcess uses to come back up; injectable for tests. */
export interface ProcessTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: ProcessTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Settings of a ListenerProcess: the listener's, plus where to listen. */
export interface ListenerProcessOptions extends Omit<ListenerOptions, "onDown"> {
  /** TCP port; 0 picks a free one, kept across `goDown`. Defaults to 0. */
  port?: number | undefined;
  /** Address to bind. Defaults to 127.0.0.1. Use an address, not `localhost`, which fastify binds twice. */
  host?: string | undefined;
  timers?: ProcessTimers | undefined;
}

/** What a ListenerProcess is doing. */
export type ProcessState = "new" | "up" | "down" | "closed";

/**
 * A listener bound to a port. It owns `listen` and `close`, and can go away for a while and come back on the
 * same port (the `downFor` knob): the listening socket and every open connection are closed, so clients see
 * ECONNREFUSED or a reset, not a slow answer.
 */
export class ListenerProcess {
  /** The fastify instance; `inject()` works on it whatever the state. */
  readonly app: FastifyInstance;
  readonly #host: string;
  readonly #timers: ProcessTimers;
  readonly #https: boolean;
  #port: number;
  #state: ProcessState = "new";
  #upTimer: unknown;
  #reopening: Promise<void> | undefined;

  constructor(opts: ListenerProcessOptions = {}) {
    const { port, host, timers, ...listener } = opts;
    this.#port = port ?? 0;
    this.#host = host ?? "127.0.0.1";
    this.#timers = timers ?? realTimers;
    this.#https = listener.https !== undefined;
    this.app = buildListener({ ...listener, onDown: (seconds) => void this.goDown(seconds) });
  }

  get state(): ProcessState {
    return this.#state;
  }

  /** The bound port (the real one once started with port 0). */
  get port(): number {
    return this.#port;
  }

  /** Base URL, e.g. `http://127.0.0.1:30417`. */
  get url(): string {
    const host = this.#host.includes(":") ? `[${this.#host}]` : this.#host;
    return `${this.#https ? "https" : "http"}://${host}:${this.#port}`;
  }

  /** Binds the port; resolves with the base URL. */
  async start(): Promise<string> {
    if (this.#state !== "new") throw new Error(`cannot start a listener that is ${this.#state}`);
    await this.app.listen({ port: this.#port, host: this.#host });
    this.#port = (this.app.server.address() as AddressInfo).port;
    this.#state = "up";
    return this.url;
  }

  /**
   * Closes the listening socket and all connections, and binds the same port again after `seconds`.
   * Going down while down moves the comeback to `seconds` from now. Resolves once the port is closed.
   */
  async goDown(seconds: number): Promise<void> {
    if (this.#state === "down") this.#timers.clearTimeout(this.#upTimer);
    else if (this.#state !== "up") return;
    else {
      this.#state = "down";
      const server = this.app.server;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    }
    this.app.log.warn({ seconds }, "listener down");
    this.#upTimer = this.#timers.setTimeout(() => {
      this.#reopening = this.#reopen();
    }, seconds * 1000);
  }

  /** Resolves once a comeback that has started is done (for tests); at once when none is pending. */
  async settled(): Promise<void> {
    await this.#reopening;
  }

  async #reopen(): Promise<void> {
    if (this.#state !== "down") return;
    const server = this.app.server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ port: this.#port, host: this.#host }, () => {
          server.off("error", reject);
          resolve();
        });
      });
      if (this.#state !== "down") return;
      this.#state = "up";
      this.app.log.warn({ url: this.url }, "listener up again");
    } catch (err) {
      // Someone else took the port meanwhile; stay down rather than crash the test or the process.
      this.app.log.error({ err }, "listener could not come back");
    }
  }

  /** Stops for good: cancels a pending comeback and closes the fastify instance. */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#timers.clearTimeout(this.#upTimer);
    this.#state = "closed";
    await this.#reopening;
    await this.app.close();
  }
}
