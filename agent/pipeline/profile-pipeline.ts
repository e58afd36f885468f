import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseDuration } from "../../api/duration.ts";
import type { ResolvedProfileSpec } from "../../api/v1alpha1/types.ts";
import { nextBoundary, type Timers } from "../../kube/timers.ts";
import type { Sample, Source } from "../collectors/sample.ts";
import { AlarmTable, type AlarmUpdate, FaultIdSequence } from "../faults/alarm.ts";
import { CollectorFaults } from "../faults/collector-failures.ts";
import { LifecycleFaults } from "../faults/lifecycle.ts";
import { FaultStore } from "../faults/store.ts";
import { ThresholdEngine } from "../faults/thresholds.ts";
import { jobFor } from "../scheduler/job.ts";
import type { JobOutcome } from "../scheduler/scheduler.ts";
import { PrometheusSink } from "../sinks/prometheus-sink.ts";
import type { Sink, SinkState } from "../sinks/sink.ts";
import { buildFaultEvent } from "../ves/fault.ts";
import { buildHeartbeat } from "../ves/heartbeat.ts";
import { EventIdSequence, epochPrefix, eventIdEpoch } from "../ves/ids.ts";
import { buildMeasurementEvents } from "../ves/measurement.ts";
import { type IncompleteWindowCount, IncompleteWindows } from "./incomplete-windows.ts";
import { openSink, type SinkDeps, sinkKey } from "./sinks.ts";
import { type ClosedWindow, MeasurementWindows } from "./windows.ts";

/** A profile as the agent runs it: name, generation and resolved spec. */
export interface PipelineProfile {
  name: string;
  generation: number;
  spec: ResolvedProfileSpec;
}

/** What a pipeline needs from the agent. */
export interface PipelineDeps extends SinkDeps {
  node: string;
  timers: Timers;
}

/** A sink's state, named. */
export type NamedSinkState = SinkState & { name: string; kind: Sink["kind"] };

/** Sources (the host, VMs) whose measurement events are built between two turns of the event loop. */
const FLUSH_SLICE = 50;
/** The UUIDs of the VMs among `samples`' sources (a loop, not flatMap: that made an array per sample). */
function vmIds(samples: readonly Sample[]): Set<string> {
  const ids = new Set<string>();
  for (let i = 0; i < samples.length; i++) {
    const { source } = samples[i]!;
    if (source.kind === "vm") ids.add(source.uuid);
  }
  return ids;
}
const sourceId = (s: Sample) => (s.source.kind === "vm" ? s.source.uuid : "host");
/** The longest a window waits past its end for the reads that close it. */
const MAX_GRACE_MS = 10_000;

/**
 * One profile's path from samples to sinks: measurement windows aligned to the measurement interval (one event
 * per source per window), heartbeats, threshold, lifecycle and collector-failure faults (persisted), and the
 * profile's sinks. Updating it in place keeps the window, open alarms and spooled events.
 */
export class ProfilePipeline {
  readonly name: string;
  #profile: PipelineProfile;
  #jobIds:
    | { profile: PipelineProfile; collectors: ReadonlyMap<string, string>; ids: ReadonlySet<string> }
    | undefined;
  readonly #deps: PipelineDeps;
  readonly #sinks = new Map<string, { key: string; sink: Sink }>();
  #windows: MeasurementWindows;
  readonly #incomplete: IncompleteWindows;
  /** The latest window end the measurement timer has reached, and the timer that closes it late. */
  #reached = 0;
  #graceTimer: unknown;
  #measureTimer: unknown;
  #heartbeatTimer: unknown;
  readonly #ids: { measurement: EventIdSequence; heartbeat: EventIdSequence };
  readonly #table: AlarmTable;
  readonly #thresholds: ThresholdEngine;
  readonly #lifecycle: LifecycleFaults;
  readonly #collectorFaults: CollectorFaults;
  readonly #store: FaultStore;
  #saving: Promise<void> = Promise.resolve();
  /** Measurement windows being built in slices, and the chain they are built on. */
  #flushing: Promise<void> = Promise.resolve();
  #slicing = 0;
  #closed = false;

  private constructor(
    profile: PipelineProfile,
    deps: PipelineDeps,
    table: AlarmTable,
    store: FaultStore,
    epoch: string,
  ) {
    this.name = profile.name;
    this.#ids = {
      measurement: new EventIdSequence(epochPrefix("measurement", epoch)),
      heartbeat: new EventIdSequence(epochPrefix("heartbeat", epoch)),
    };
    this.#profile = profile;
    this.#deps = deps;
    this.#table = table;
    this.#store = store;
    this.#thresholds = new ThresholdEngine(table);
    this.#lifecycle = new LifecycleFaults(table, { enabled: profile.spec.faults.vmLifecycle });
    this.#collectorFaults = new CollectorFaults(table, { enabled: profile.spec.faults.collectorFailures });
    this.#windows = new MeasurementWindows(
      parseDuration(profile.spec.events.measurementInterval),
      deps.timers.now(),
    );
    this.#incomplete = new IncompleteWindows(deps.log, profile.name);
  }

  /** Opens the profile's sinks, restores its open alarms and starts its timers. */
  static async open(profile: PipelineProfile, deps: PipelineDeps): Promise<ProfilePipeline> {
    const dir = join(deps.stateDir, "faults", profile.name);
    await mkdir(dir, { recursive: true });
    const store = new FaultStore({ dir });
    const loaded = await store.load();
    for (const err of loaded.errors)
      deps.log.warn({ profile: profile.name, err: err.message }, "fault state unreadable; starting afresh");
    // Every id this pipeline hands out carries the epoch of this start (docs/ves.md, "eventIds"); restored
    // alarms keep the id they were raised with.
    const epoch = eventIdEpoch(deps.timers.now());
    const table = new AlarmTable({
      now: () => deps.timers.now(),
      ids: (last) => new FaultIdSequence(epochPrefix("fault", epoch), last),
      ...(loaded.state ? { state: loaded.state } : {}),
    });
    const p = new ProfilePipeline(profile, deps, table, store, epoch);
    await p.#syncSinks();
    p.#emitFaults(p.#thresholds.configure(profile.spec.thresholds ?? [], deps.timers.now()));
    // Restored alarms of VMs that are gone are cleared by the first complete listing (or now, without one).
    p.#forgetVmsWithoutVirt();
    p.#armMeasurement();
    p.#armHeartbeat();
    return p;
  }

  get generation(): number {
    return this.#profile.generation;
  }

  get spec(): ResolvedProfileSpec {
    return this.#profile.spec;
  }

  /** Ids of the jobs whose samples this profile takes. */
  jobIds(): ReadonlySet<string> {
    return this.#jobs().ids;
  }

  /** Measurement windows published incomplete, by collector and reason, for metrics. */
  incompleteWindows(): IncompleteWindowCount[] {
    return this.#incomplete.counts();
  }

  /**
   * Job id → collector name, of the jobs this profile takes. Kept per generation: the agent asks for every job
   * outcome, and each id is a hash of the collector's settings.
   */
  #jobs(): { collectors: ReadonlyMap<string, string>; ids: ReadonlySet<string> } {
    if (this.#jobIds?.profile !== this.#profile) {
      const { collectors, events } = this.#profile.spec;
      const byId = new Map(collectors.map((c) => [jobFor(c, events).id, c.name]));
      this.#jobIds = { profile: this.#profile, collectors: byId, ids: new Set(byId.keys()) };
    }
    return this.#jobIds;
  }

  /** Applies a new generation in place: sinks reopened only when changed, thresholds and switches updated. */
  async update(profile: PipelineProfile): Promise<void> {
    const old = this.#profile.spec;
    this.#profile = profile;
    const now = this.#deps.timers.now();
    await this.#syncSinks();
    this.#emitFaults([
      ...this.#thresholds.configure(profile.spec.thresholds ?? [], now),
      ...this.#lifecycle.setEnabled(profile.spec.faults.vmLifecycle, now),
      ...this.#collectorFaults.configure({ enabled: profile.spec.faults.collectorFailures }, now),
    ]);
    this.#windows.keepJobs(this.jobIds());
    this.#forgetVmsWithoutVirt();
    if (old.events.measurementInterval !== profile.spec.events.measurementInterval) {
      // The open windows end early (their coverage says so); the new interval starts its own.
      while (this.#windows.next <= nextBoundary(now, this.#windows.intervalMs))
        this.#flush(this.#windows.close());
      this.#windows = new MeasurementWindows(parseDuration(profile.spec.events.measurementInterval), now);
      this.#reached = 0;
      this.#armMeasurement();
    } else this.#drain();
    if (old.events.heartbeatInterval !== profile.spec.events.heartbeatInterval) this.#armHeartbeat();
  }

  /** Takes one job outcome (the agent routes only this profile's jobs here). */
  onOutcome(o: JobOutcome): void {
    if (this.#closed) return;
    const updates: AlarmUpdate[] = [];
    if (o.ok) {
      const { samples, time, events } = o.result;
      this.#windows.add(o.job.id, o.job.intervalMs, o.result);
      // A degenerate input (NaN, marked suspect) is never published; it only marks its VES window suspect.
      let published: Sample[] | undefined;
      for (const { sink } of this.#sinks.values())
        if (sink instanceof PrometheusSink) {
          published ??= samples.filter((s) => Number.isFinite(s.value));
          sink.observe(published, time);
        }
      updates.push(...this.#thresholds.observe(samples, time));
      if (events?.length) updates.push(...this.#lifecycle.onEvents(events));
      updates.push(...this.#lifecycle.observe(samples, time));
      if (o.result.listsEveryVm)
        updates.push(...this.#forgetVms(new Set([...vmIds(samples), ...(o.result.unreadVms ?? [])]), time));
      updates.push(
        ...this.#collectorFaults.observeCollector(o.job.id, o.job.collector, true, undefined, time),
      );
    } else {
      this.#windows.failed(o.job.id, o.job.intervalMs, o.time);
      updates.push(
        ...this.#collectorFaults.observeCollector(o.job.id, o.job.collector, false, o.error, o.time),
      );
    }
    this.#emitFaults(updates);
    this.#drain();
  }

  /** Clears, with a clear event, every alarm of a VM not in `present` (gone from a complete listing). */
  #forgetVms(present: ReadonlySet<string>, time: number): AlarmUpdate[] {
    const gone = new Map<string, Source>();
    for (const a of this.#table.list((a) => a.source.kind === "vm" && !present.has(a.source.uuid)))
      if (a.source.kind === "vm") gone.set(a.source.uuid, a.source);
    return [...gone.values()].flatMap((source) => [
      ...this.#thresholds.forgetSource(source, time),
      ...this.#lifecycle.forgetSource(source, time),
    ]);
  }

  /** Without a virt collector no listing will ever come: VM alarms (restored or left over) are cleared at once. */
  #forgetVmsWithoutVirt(): void {
    if (!this.#profile.spec.collectors.some((c) => c.name === "virt"))
      this.#emitFaults(this.#forgetVms(new Set(), this.#deps.timers.now()));
  }

  status(): NamedSinkState[] {
    return [...this.#sinks.values()].map(({ sink }) => ({
      name: sink.name,
      kind: sink.kind,
      ...sink.status(),
    }));
  }

  /** The Prometheus sinks of this profile, for /metrics. */
  /** The open sinks, each with the key of the settings it was opened with (for the agent's change log). */
  openSinks(): { name: string; kind: Sink["kind"]; key: string }[] {
    return [...this.#sinks].map(([name, held]) => ({ name, kind: held.sink.kind, key: held.key }));
  }

  prometheusSinks(): PrometheusSink[] {
    return [...this.#sinks.values()].map((s) => s.sink).filter((s) => s instanceof PrometheusSink);
  }

  /** Stops the timers and closes the sinks (their spools stay on disk); saves the open alarms. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#deps.timers.clearTimeout(this.#measureTimer);
    this.#deps.timers.clearTimeout(this.#heartbeatTimer);
    this.#deps.timers.clearTimeout(this.#graceTimer);
    await this.#flushing;
    await this.#saving;
    await Promise.all([...this.#sinks.values()].map(({ sink }) => sink.close()));
    this.#sinks.clear();
  }

  #send(events: readonly object[]): void {
    if (events.length === 0) return;
    for (const { sink } of this.#sinks.values()) sink.enqueue(events);
  }

  #emitFaults(updates: readonly AlarmUpdate[]): void {
    if (updates.length === 0) return;
    const { events } = this.#profile.spec;
    const time = this.#deps.timers.now();
    this.#send(
      updates.map(({ alarm }) =>
        buildFaultEvent({
          alarm: {
            ...alarm,
            additional: {
              ...alarm.labels,
              ...(alarm.metric ? { metric: alarm.metric } : {}),
              ...(alarm.value !== undefined ? { value: String(alarm.value) } : {}),
              ...(alarm.bound !== undefined ? { bound: String(alarm.bound) } : {}),
            },
          },
          time,
          settings: events,
          node: this.#deps.node,
          version: events.vesVersion,
        }),
      ),
    );
    const state = this.#table.snapshot();
    this.#saving = this.#saving
      .then(() => this.#store.save(state))
      .catch((err: Error) =>
        this.#deps.log.error({ profile: this.name, err: err.message }, "cannot save fault state"),
      );
  }

  /**
   * Closes the windows the clock has passed whose closing reads are all in, or whose grace ran out: a window waits
   * for the read at its end (the one that completes its rates), not only for the boundary.
   */
  #drain(): void {
    const now = this.#deps.timers.now();
    const grace = Math.min(this.#windows.intervalMs / 2, MAX_GRACE_MS);
    while (this.#windows.next <= this.#reached) {
      const end = this.#windows.next;
      if (!this.#windows.complete(end) && now < end + grace) break;
      this.#flush(this.#windows.close());
    }
    this.#deps.timers.clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    if (this.#windows.next <= this.#reached && !this.#closed)
      this.#graceTimer = this.#deps.timers.setTimeout(
        () => this.#drain(),
        Math.max(0, this.#windows.next + grace - now),
      );
  }

  #flush(w: ClosedWindow): void {
    const { events } = this.#profile.spec;
    this.#incomplete.observe(w.incomplete, this.#jobs().collectors, w.end);
    if (w.samples.length === 0) return;
    const bySource = new Map<string, Sample[]>();
    for (let i = 0; i < w.samples.length; i++) {
      const s = w.samples[i]!;
      const id = sourceId(s);
      const list = bySource.get(id);
      if (list) list.push(s);
      else bySource.set(id, [s]);
    }
    const sources = [...bySource.values()];
    const build = (slice: Sample[][]) =>
      this.#send(
        buildMeasurementEvents({
          samples: slice.flat(),
          windowStart: w.start,
          windowEnd: w.end,
          coverage: w.coverage,
          weightOf: w.weightOf,
          intervalSeconds: parseDuration(events.measurementInterval) / 1000,
          settings: events,
          node: this.#deps.node,
          version: events.vesVersion,
          nextId: () => this.#ids.measurement.next(),
        }),
      );
    if (sources.length <= FLUSH_SLICE && this.#slicing === 0) {
      build(sources);
      return;
    }
    // Hundreds of VMs take hundreds of ms to build: in slices, with the event loop free between them, so
    // collections due meanwhile still start on their tick. Windows still go out in order.
    this.#slicing++;
    this.#flushing = this.#flushing
      .then(async () => {
        for (let i = 0; i < sources.length; i += FLUSH_SLICE) {
          if (i > 0) await new Promise((r) => setImmediate(r));
          build(sources.slice(i, i + FLUSH_SLICE));
        }
      })
      .catch((err: Error) =>
        this.#deps.log.error({ profile: this.name, err: err.message }, "cannot build measurement events"),
      )
      .finally(() => {
        this.#slicing--;
      });
  }

  /** Runs `fn` at every multiple of `intervalMs` on the clock. */
  #every(intervalMs: number, fn: (now: number) => void, set: (h: unknown) => void): void {
    const timers = this.#deps.timers;
    const arm = () => {
      const now = timers.now();
      const next = nextBoundary(now, intervalMs);
      set(
        timers.setTimeout(() => {
          if (this.#closed) return;
          fn(next);
          arm();
        }, next - now),
      );
    };
    arm();
  }

  #armMeasurement(): void {
    this.#deps.timers.clearTimeout(this.#measureTimer);
    this.#every(
      parseDuration(this.#profile.spec.events.measurementInterval),
      (t) => {
        this.#reached = t;
        this.#drain();
      },
      (h) => {
        this.#measureTimer = h;
      },
    );
  }

  #armHeartbeat(): void {
    this.#deps.timers.clearTimeout(this.#heartbeatTimer);
    this.#every(
      parseDuration(this.#profile.spec.events.heartbeatInterval),
      (time) => {
        const { events } = this.#profile.spec;
        this.#send([
          buildHeartbeat({
            time,
            intervalSeconds: Math.max(1, Math.round(parseDuration(events.heartbeatInterval) / 1000)),
            settings: events,
            node: this.#deps.node,
            version: events.vesVersion,
            eventId: this.#ids.heartbeat.next(),
          }),
        ]);
      },
      (h) => {
        this.#heartbeatTimer = h;
      },
    );
  }

  async #syncSinks(): Promise<void> {
    const { sinks, events } = this.#profile.spec;
    const wanted = new Map(sinks.map((s) => [s.name, s]));
    for (const [name, held] of this.#sinks) {
      const spec = wanted.get(name);
      if (!spec || sinkKey(spec, events) !== held.key) {
        this.#sinks.delete(name);
        await held.sink.close();
      }
    }
    for (const spec of sinks) {
      if (this.#sinks.has(spec.name)) continue;
      try {
        this.#sinks.set(spec.name, {
          key: sinkKey(spec, events),
          sink: await openSink(this.name, spec, events, this.#deps),
        });
      } catch (err) {
        this.#deps.log.error(
          { profile: this.name, sink: spec.name, err: (err as Error).message },
          "cannot open sink",
        );
        throw err;
      }
    }
  }
}
