import type { Logger } from "pino";
import type { ResolvedProfileSpec } from "../api/v1alpha1/types.ts";
import { type ApplyChanges, applyChanges, type RunningSet } from "./apply-changes.ts";
import type { CollectorEnv } from "./collectors/collector.ts";
import type { CollectorRegistry } from "./collectors/registry.ts";
import type { IncompleteWindowCount } from "./pipeline/incomplete-windows.ts";
import {
  type NamedSinkState,
  type PipelineDeps,
  type PipelineProfile,
  ProfilePipeline,
} from "./pipeline/profile-pipeline.ts";
import { type JobSpec, jobFor } from "./scheduler/job.ts";
import { type JobState, Scheduler } from "./scheduler/scheduler.ts";
import type { PrometheusSink } from "./sinks/prometheus-sink.ts";

/** What the agent reports about one profile. */
export interface ProfileReport {
  name: string;
  /** The generation running, if any. */
  appliedGeneration?: number;
  /** The generation last asked for (applied, refused or waited on), when known. */
  observedGeneration?: number;
  state: "Applied" | "Refused" | "Pending";
  message?: string;
}

/** The agent's whole state, for NodeMonitor.status, /readyz and /metrics. */
export interface AgentStatus {
  profiles: ProfileReport[];
  jobs: (JobState & { profiles: string[] })[];
  sinks: (NamedSinkState & { profile: string })[];
  /** Measurement windows each profile published incomplete, by collector and reason. */
  incompleteWindows?: (IncompleteWindowCount & { profile: string })[];
}

/** How one configuration was applied. */
export interface ApplyReport {
  applied: string[];
  refused: { profile: string; message: string }[];
  /** What started, stopped and changed, for the log. */
  changes: ApplyChanges;
  durationMs: number;
}

/** Whether the agent runs what it was asked to: /readyz and `vesmon_agent_ready`. */
export interface Readiness {
  ready: boolean;
  /** Why not, naming each profile that should run and does not. */
  reason?: string;
}

/** Settings of the agent. */
export interface AgentOptions extends Omit<PipelineDeps, "log"> {
  registry: CollectorRegistry;
  env: CollectorEnv;
  log: Logger;
}

function jobsOf(spec: ResolvedProfileSpec): Map<string, JobSpec> {
  return new Map(spec.collectors.map((c) => [jobFor(c, spec.events).id, jobFor(c, spec.events)]));
}

/**
 * The agent: runs the jobs every profile needs (shared when equal), routes each job's outcomes to the
 * profiles that use it, and hot-applies new configurations. BestEffort profiles take what starts; an Atomic
 * profile whose new jobs do not all start keeps its previous generation, and the refusal is reported.
 */
export class Agent {
  readonly #opts: AgentOptions;
  readonly #scheduler: Scheduler;
  readonly #pipelines = new Map<string, ProfilePipeline>();
  readonly #reports = new Map<string, ProfileReport>();
  #applying: Promise<unknown> = Promise.resolve();
  #applied = 0;
  /** The profiles of the last configuration applied: those that should run. */
  #wanted: string[] = [];

  constructor(opts: AgentOptions) {
    this.#opts = opts;
    this.#scheduler = new Scheduler({
      registry: opts.registry,
      env: opts.env,
      timers: opts.timers,
      log: opts.log,
    });
    this.#scheduler.onOutcome((o) => {
      for (const p of this.#pipelines.values()) if (p.jobIds().has(o.job.id)) p.onOutcome(o);
    });
  }

  /**
   * Ready once a configuration has been applied and every profile in it runs: BestEffort profiles run what
   * started; an Atomic profile whose new generation was refused counts while its previous one runs. A profile
   * with nothing running (its sinks or state could not open, or Atomic with no earlier generation) is not ready.
   */
  readiness(): Readiness {
    if (this.#applied === 0) return { ready: false, reason: "waiting for the first configuration" };
    const idle = this.#wanted.filter((name) => !this.#pipelines.has(name));
    if (!idle.length) return { ready: true };
    const why = idle.map((name) => `${name}: ${this.#reports.get(name)?.message ?? "not running"}`);
    return { ready: false, reason: `profiles not running: ${why.join("; ")}` };
  }

  #running(): RunningSet {
    return {
      jobs: [...this.#pipelines].flatMap(([profile, p]) =>
        p.spec.collectors.map((c) => ({ profile, id: jobFor(c, p.spec.events).id, spec: c })),
      ),
      sinks: [...this.#pipelines].flatMap(([profile, p]) => p.openSinks().map((s) => ({ profile, ...s }))),
    };
  }

  /** Number of configurations applied. */
  get applyCount(): number {
    return this.#applied;
  }

  /** Applies a complete configuration (every profile the node runs); applies never overlap. */
  apply(profiles: readonly PipelineProfile[]): Promise<ApplyReport> {
    const run = this.#applying.then(() => this.#apply(profiles));
    this.#applying = run.catch(() => {});
    return run;
  }

  async #apply(profiles: readonly PipelineProfile[]): Promise<ApplyReport> {
    const started = this.#opts.timers.now();
    const before = this.#running();
    this.#wanted = profiles.map((p) => p.name);
    const wanted = new Map(profiles.map((p) => [p.name, p]));
    const refused: { profile: string; message: string }[] = [];
    // Step 1: BestEffort profiles get their new jobs; Atomic ones keep what they run for now.
    const effective = new Map<string, ResolvedProfileSpec>();
    for (const p of profiles) {
      const current = this.#pipelines.get(p.name);
      if (p.spec.applyPolicy !== "Atomic") effective.set(p.name, p.spec);
      else if (current) effective.set(p.name, current.spec);
    }
    const union = (specs: Iterable<ResolvedProfileSpec>) => {
      const out = new Map<string, JobSpec>();
      for (const s of specs) for (const [id, job] of jobsOf(s)) out.set(id, job);
      return out;
    };
    await this.#scheduler.apply(union(effective.values()));
    // Step 2: each changed Atomic profile moves to its new jobs only if all of them start.
    for (const p of profiles) {
      if (p.spec.applyPolicy !== "Atomic" || effective.get(p.name) === p.spec) continue;
      const trial = new Map(effective);
      trial.set(p.name, p.spec);
      const outcome = await this.#scheduler.apply(union(trial.values()), { atomic: true });
      if (outcome.failed.length) {
        const current = this.#pipelines.get(p.name);
        const failures = outcome.failed.map((f) => `job ${f.id}: ${f.error}`).join("; ");
        refused.push({
          profile: p.name,
          message: `Atomic: ${failures}; ${current ? `generation ${current.generation} keeps running` : "nothing runs"}`,
        });
        if (current) wanted.set(p.name, { ...p, generation: current.generation, spec: current.spec });
        else wanted.delete(p.name);
      } else effective.set(p.name, p.spec);
    }
    // Pipelines follow the jobs: removed profiles close, new ones open, changed ones update in place.
    for (const [name, pipeline] of this.#pipelines)
      if (!wanted.has(name)) {
        this.#pipelines.delete(name);
        this.#reports.delete(name);
        await pipeline.close();
      }
    const applied: string[] = [];
    for (const r of refused)
      if (!wanted.has(r.profile))
        this.#reports.set(r.profile, { name: r.profile, state: "Refused", message: r.message });
    for (const [name, p] of wanted) {
      const refusal = refused.find((r) => r.profile === name);
      try {
        const current = this.#pipelines.get(name);
        if (current) await current.update(p);
        else
          this.#pipelines.set(
            name,
            await ProfilePipeline.open(p, { ...this.#opts, log: this.#opts.log.child({ profile: name }) }),
          );
        if (refusal)
          this.#reports.set(name, {
            name,
            appliedGeneration: p.generation,
            state: "Refused",
            message: refusal.message,
          });
        else {
          this.#reports.set(name, { name, appliedGeneration: p.generation, state: "Applied" });
          applied.push(name);
        }
      } catch (err) {
        const message = (err as Error).message;
        refused.push({ profile: name, message });
        this.#reports.set(name, {
          name,
          state: "Refused",
          message,
          ...(this.#pipelines.get(name) ? { appliedGeneration: this.#pipelines.get(name)!.generation } : {}),
        });
      }
    }
    // Jobs no pipeline uses any more (e.g. a profile whose sinks could not open) are stopped.
    await this.#scheduler.apply(union([...this.#pipelines.values()].map((p) => p.spec)));
    this.#applied++;
    return {
      applied,
      refused,
      changes: applyChanges(before, this.#running()),
      durationMs: this.#opts.timers.now() - started,
    };
  }

  /** Reports a configuration the agent could not even read (e.g. invalid YAML), keeping everything as it is. */
  refuseConfiguration(profile: string, message: string): void {
    const current = this.#pipelines.get(profile);
    this.#reports.set(profile, {
      name: profile,
      state: "Refused",
      message,
      ...(current ? { appliedGeneration: current.generation } : {}),
    });
  }

  status(): AgentStatus {
    const users = new Map<string, string[]>();
    for (const [name, p] of this.#pipelines)
      for (const id of p.jobIds()) users.set(id, [...(users.get(id) ?? []), name]);
    return {
      profiles: [...this.#reports.values()],
      jobs: this.#scheduler.states().map((j) => ({ ...j, profiles: users.get(j.id) ?? [] })),
      sinks: [...this.#pipelines].flatMap(([profile, p]) => p.status().map((s) => ({ ...s, profile }))),
      incompleteWindows: [...this.#pipelines].flatMap(([profile, p]) =>
        p.incompleteWindows().map((c) => ({ ...c, profile })),
      ),
    };
  }

  /** The Prometheus sinks of every profile. */
  prometheusSinks(): PrometheusSink[] {
    return [...this.#pipelines.values()].flatMap((p) => p.prometheusSinks());
  }

  /** Stops collecting, then closes every pipeline (spools stay on disk, alarms are saved). */
  async close(): Promise<void> {
    await this.#applying;
    await this.#scheduler.close();
    for (const p of this.#pipelines.values()) await p.close();
    this.#pipelines.clear();
  }
}
