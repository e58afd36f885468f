import type { Logger } from "pino";
import { parseDuration } from "../../api/duration.ts";
import { parseQuantity } from "../../api/quantity.ts";
import type { VesSink } from "../../api/v1alpha1/types.ts";
import { backoffDelay } from "../../kube/backoff.ts";
import { HttpTransport, type Transport, type TransportSecurity } from "./http-transport.ts";
import { failureReason, type SendResult } from "./send-result.ts";
import type { Sink, DropReason as SinkDropReason, SinkState } from "./sink.ts";
import { Spool, type SpoolRecord } from "./spool.ts";

/** How one VES sink is set up. */
export interface VesSinkOptions {
  name: string;
  spec: VesSink;
  /** Decides the path: `/eventListener/v7` for 7.2.1, `/eventListener/v5` for 5.4.1. */
  vesVersion: "7.2.1" | "5.4.1";
  /** The sink's own spool directory. */
  spoolDir: string;
  /** Size of the spool's segment files; defaults to the spool's (buffer.maxBytes / 8). For tests. */
  spoolSegmentBytes?: number;
  security?: TransportSecurity;
  /** Consecutive retryable failures on the primary before switching to the backup. Defaults to 3. */
  failoverAfter?: number;
  transport?: Transport;
  now?: () => number;
  random?: () => number;
  /** Told each backoff delay before it is waited out; for metrics and tests. */
  onBackoff?: (ms: number) => void;
  log?: Logger;
}

const BATCH_ENVELOPE = Buffer.byteLength('{"eventList":[]}');

function domainOf(payload: Buffer): string {
  // The payload is our own serialisation; the domain is all the batching needs from it.
  return /"domain":"([^"]+)"/.exec(payload.toString("utf8", 0, Math.min(payload.length, 512)))?.[1] ?? "";
}

/**
 * Delivers events to a VES collector: spooled on disk first, then posted in order, one domain per batch,
 * with capped, jittered backoff on retryable failures (honouring Retry-After), failover to the backup
 * after repeated failures and periodic return to the primary. A permanent refusal (4xx) drops that batch,
 * counted and reported; a refused batch of several events is retried one by one so only the bad ones go.
 */
export class VesSinkRunner implements Sink {
  readonly kind = "ves" as const;
  readonly name: string;
  readonly #opts: VesSinkOptions;
  readonly #spool: Spool;
  readonly #transport: Transport;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #paths: { single: string; batch: string };
  #state: SinkState["state"] = "Pending";
  #target: "primary" | "backup" = "primary";
  #onBackupSince = 0;
  #failures = 0;
  #attempt = 0;
  #singles = 0;
  #delivered = 0;
  #refused = 0;
  #retries = 0;
  #lastDelivery?: number;
  #lastError?: { at: number; text: string };
  #loggedStatuses = new Set<string>();
  /** Set while delivery fails: since when, why, and how many attempts; logged on entering and leaving. */
  #outage: { since: number; reason: string; attempts: number } | undefined;
  /** Set while the spool cannot be read or acked (an I/O error): logged on entering and leaving. */
  #spoolFault: string | undefined;
  #closed = false;
  #probing = false;
  /** Ends the idle wait when events arrive. */
  #wakeIdle: (() => void) | undefined;
  /** Ends any wait, idle or backoff: only close uses it. */
  #wakeAny: (() => void) | undefined;
  #loop: Promise<void> = Promise.resolve();
  #appends: Promise<void> = Promise.resolve();

  private constructor(opts: VesSinkOptions, spool: Spool) {
    this.#opts = opts;
    this.name = opts.name;
    this.#spool = spool;
    this.#transport = opts.transport ?? new HttpTransport(opts.security);
    this.#now = opts.now ?? Date.now;
    this.#timeoutMs = parseDuration(opts.spec.timeout);
    this.#maxEvents = opts.spec.batch.maxEvents;
    this.#maxBytes = parseQuantity(opts.spec.batch.maxBytes);
    const v = opts.vesVersion === "5.4.1" ? "v5" : "v7";
    this.#paths = { single: `/eventListener/${v}`, batch: `/eventListener/${v}/eventBatch` };
  }

  /** Opens the spool (recovering what a previous run left) and starts delivering. */
  static async open(opts: VesSinkOptions): Promise<VesSinkRunner> {
    const spool = await Spool.open({
      dir: opts.spoolDir,
      maxBytes: parseQuantity(opts.spec.buffer.maxBytes),
      maxAgeMs: parseDuration(opts.spec.buffer.maxAge),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.spoolSegmentBytes ? { segmentBytes: opts.spoolSegmentBytes } : {}),
    });
    const sink = new VesSinkRunner(opts, spool);
    sink.#loop = sink.#run();
    return sink;
  }

  enqueue(events: readonly object[]): void {
    if (this.#closed || events.length === 0) return;
    const payloads = events.map((e) => Buffer.from(JSON.stringify(e)));
    this.#appends = this.#appends
      .then(() => this.#spool.append(payloads))
      .then(
        (r) => {
          // The spool counts and logs refusals (once per transition); the status shows the last error.
          if (r.refused > 0) this.#error(`spool: ${r.refused} event(s) refused: ${r.error}`);
          if (r.appended > 0) this.#wakeIdle?.();
        },
        (err: Error) => this.#error(`spool: ${err.message}`),
      );
  }

  /** Resolves once everything enqueued so far is in the spool. */
  flushed(): Promise<void> {
    return this.#appends;
  }

  status(): SinkState {
    const st = this.#spool.stats();
    const droppedByReason: Record<SinkDropReason, number> = { ...st.dropped, refused_4xx: this.#refused };
    const dropped = Object.values(droppedByReason).reduce((n, v) => n + v, 0);
    return {
      state: this.#closed ? "Stopped" : this.#state,
      target: this.#target,
      queued: st.queued,
      queuedBytes: st.queuedBytes,
      delivered: this.#delivered,
      dropped,
      droppedByReason,
      spool: {
        writable: st.writable,
        cursorSaved: st.cursorSaved,
        skippedBytes: { checksum: st.lost.checksum.bytes, torn: st.lost.torn.bytes },
        ...(st.writeError !== undefined ? { error: st.writeError } : {}),
      },
      retries: this.#retries,
      ...(this.#lastDelivery ? { lastDeliveryTime: new Date(this.#lastDelivery).toISOString() } : {}),
      ...(this.#lastError
        ? { lastErrorTime: new Date(this.#lastError.at).toISOString(), lastError: this.#lastError.text }
        : {}),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#appends;
    this.#closed = true;
    this.#wakeAny?.();
    await this.#loop;
    this.#transport.close();
    await this.#spool.close();
  }

  #error(text: string): void {
    this.#lastError = { at: this.#now(), text };
  }

  /** Waits `ms`; new events end an idle wait, but never a backoff (that would hammer a failing collector). */
  #sleep(ms: number, idle: boolean): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.#wakeIdle = undefined;
        this.#wakeAny = undefined;
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.#wakeAny = end;
      if (idle) this.#wakeIdle = end;
    });
  }

  #baseUrl(): string {
    const { url, backupUrl, fallbackInterval } = this.#opts.spec;
    if (this.#target === "backup" && backupUrl) {
      // While on the backup, try the primary again every fallbackInterval.
      if (this.#now() - this.#onBackupSince >= parseDuration(fallbackInterval)) {
        this.#target = "primary";
        this.#probing = true;
        this.#failures = 0;
        this.#opts.log?.info("trying the primary VES collector again");
      } else return backupUrl.replace(/\/+$/, "");
    }
    return url.replace(/\/+$/, "");
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#deliverOnce();
        if (this.#spoolFault !== undefined) {
          this.#opts.log?.info("spool readable again; delivery resumes");
          this.#spoolFault = undefined;
        }
      } catch (err) {
        // A spool that cannot be read or acked (an I/O error) must not end delivery: report, wait, try again.
        const text = `spool: ${(err as Error).message}`;
        this.#error(text);
        if (this.#spoolFault === undefined)
          this.#opts.log?.error(
            { err: (err as Error).message },
            "cannot read the spool; retrying with backoff",
          );
        this.#spoolFault = text;
        await this.#backoff(undefined);
      }
    }
  }

  /** Sends the next batch from the spool and settles it; sleeps when there is nothing to send. */
  async #deliverOnce(): Promise<void> {
    const limit = this.#singles > 0 ? 1 : this.#maxEvents;
    const batch: SpoolRecord[] = await this.#spool.peek(limit, this.#maxBytes - BATCH_ENVELOPE, domainOf);
    if (batch.length === 0) {
      if (this.#state === "Pending") this.#state = "Ready";
      await this.#sleep(60_000, true);
      return;
    }
    // Only whole records the spool verified against their checksums go into a body.
    const single = batch.length === 1 && this.#maxEvents === 1;
    const body = single
      ? Buffer.concat([Buffer.from('{"event":'), batch[0]!.payload, Buffer.from("}")])
      : Buffer.concat([
          Buffer.from('{"eventList":['),
          ...batch.flatMap((r, i) => (i ? [Buffer.from(","), r.payload] : [r.payload])),
          Buffer.from("]}"),
        ]);
    const base = this.#baseUrl();
    const result = await this.#transport.post(
      base + (single ? this.#paths.single : this.#paths.batch),
      body,
      this.#timeoutMs,
    );
    await this.#settle(result, batch.length);
  }

  async #settle(result: SendResult, count: number): Promise<void> {
    if (result.status === "success") {
      await this.#spool.ack(count);
      this.#delivered += count;
      this.#lastDelivery = this.#now();
      this.#singles = Math.max(0, this.#singles - count);
      this.#failures = 0;
      this.#attempt = 0;
      this.#probing = false;
      this.#state = "Ready";
      if (this.#outage) {
        const { since, reason, attempts } = this.#outage;
        this.#opts.log?.info(
          {
            reason,
            failedAttempts: attempts,
            seconds: Math.round((this.#now() - since) / 1000),
            queued: this.status().queued,
          },
          "VES delivery recovered",
        );
        this.#outage = undefined;
      }
      return;
    }
    this.#error(result.error);
    if (result.status === "failure") {
      if (count > 1) {
        // One bad event must not cost its neighbours: resend this batch one event at a time.
        this.#singles = count;
        return;
      }
      await this.#spool.ack(1);
      this.#refused++;
      this.#singles = Math.max(0, this.#singles - 1);
      this.#state = "Failing";
      const key = String(result.httpStatus);
      if (!this.#loggedStatuses.has(key)) {
        this.#loggedStatuses.add(key);
        this.#opts.log?.warn(
          { status: result.httpStatus, error: result.error },
          "VES collector refused an event; dropped (logged once per status)",
        );
      }
      return;
    }
    this.#retries++;
    this.#failures++;
    this.#state = "Retrying";
    const reason = failureReason(result);
    if (this.#outage) this.#outage.attempts++;
    else {
      this.#outage = { since: this.#now(), reason, attempts: 1 };
      this.#opts.log?.warn(
        { reason, error: result.error, target: this.#target, queued: this.status().queued },
        "VES delivery failing; retrying with backoff (logged again when it recovers)",
      );
    }
    const failover = this.#probing || this.#failures >= (this.#opts.failoverAfter ?? 3);
    if (this.#target === "primary" && this.#opts.spec.backupUrl && failover) {
      this.#probing = false;
      this.#target = "backup";
      this.#onBackupSince = this.#now();
      this.#failures = 0;
      this.#attempt = 0;
      this.#opts.log?.warn(
        { reason, error: result.error },
        "primary VES collector failing; switching to the backup",
      );
      return;
    }
    await this.#backoff(result.retryAfterMs);
  }

  /** Waits the next capped, jittered backoff delay (at least what the collector asked for). */
  async #backoff(retryAfterMs: number | undefined): Promise<void> {
    const delay = Math.max(
      backoffDelay(this.#attempt++, {
        initial: parseDuration(this.#opts.spec.retry.initialBackoff),
        max: parseDuration(this.#opts.spec.retry.maxBackoff),
        ...(this.#opts.random ? { random: this.#opts.random } : {}),
      }),
      retryAfterMs ?? 0,
    );
    this.#opts.onBackoff?.(delay);
    await this.#sleep(delay, false);
  }
}
