import type { Logger } from "pino";
import type { NodeMonitorStatus } from "../../api/v1alpha1/types.ts";
import type { KubeApi } from "../../kube/api.ts";
import { patchStatusWith } from "../../kube/status-patch.ts";
import type { Timers } from "../../kube/timers.ts";
import { statusFingerprint } from "./render.ts";

/** Settings of the status writer. */
export interface StatusWriterOptions {
  api: KubeApi;
  nodeName: string;
  /** Least time between two writes, ms. Defaults to 5000. */
  minIntervalMs?: number;
  /** A status whose only changes are times and counters is still written this often, ms. Defaults to 60000. */
  refreshMs?: number;
  timers: Timers;
  log?: Logger;
}

/**
 * Writes NodeMonitor.status through the status subresource, replacing it whole (so a key the agent no longer
 * reports is removed; field manager `vesmon-agent`), rate-limited: requests between two
 * writes are coalesced into the latest, and a status that differs only in times and counters is written at
 * most every `refreshMs`. A failed write is retried at the next turn.
 */
export class StatusWriter {
  readonly #opts: StatusWriterOptions;
  #pending: (() => NodeMonitorStatus) | undefined;
  #timer: unknown;
  #lastWrite = Number.NEGATIVE_INFINITY;
  #lastFingerprint = "";
  #writing: Promise<void> = Promise.resolve();
  /** Writes made, for tests and metrics. */
  writes = 0;

  constructor(opts: StatusWriterOptions) {
    this.#opts = opts;
  }

  /** Asks for a write of the status `render` returns when the turn comes. */
  request(render: () => NodeMonitorStatus): void {
    this.#pending = render;
    if (this.#timer !== undefined) return;
    const wait = Math.max(0, this.#lastWrite + (this.#opts.minIntervalMs ?? 5000) - this.#opts.timers.now());
    this.#timer = this.#opts.timers.setTimeout(() => {
      this.#timer = undefined;
      this.#writing = this.#writing.then(() => this.#flush());
    }, wait);
  }

  /** Writes what is pending now (e.g. before exiting). */
  async flush(): Promise<void> {
    this.#opts.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    await this.#flush();
  }

  /** The NodeMonitor was created again: its status is empty, so the next write goes out even if unchanged. */
  forget(): void {
    this.#lastFingerprint = "";
  }

  stop(): void {
    this.#opts.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
  }

  async #flush(): Promise<void> {
    const render = this.#pending;
    this.#pending = undefined;
    if (!render) return;
    const status = render();
    const fingerprint = statusFingerprint(status);
    const now = this.#opts.timers.now();
    if (fingerprint === this.#lastFingerprint && now - this.#lastWrite < (this.#opts.refreshMs ?? 60_000))
      return;
    try {
      await patchStatusWith(
        this.#opts.api,
        { group: "vesmon.io", version: "v1alpha1", plural: "nodemonitors", name: this.#opts.nodeName },
        status,
        { fieldManager: "vesmon-agent" },
      );
      this.writes++;
      this.#lastWrite = now;
      this.#lastFingerprint = fingerprint;
    } catch (err) {
      // No NodeMonitor (no profile selects this node): there is no status to write until one appears.
      if ((err as { code?: number }).code === 404) return;
      this.#opts.log?.warn(
        { node: this.#opts.nodeName, err: (err as Error).message },
        "cannot write NodeMonitor status; retrying",
      );
      this.#lastWrite = now;
      this.request(render);
    }
  }
}
