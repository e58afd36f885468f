import { join } from "node:path";
import type { Writable } from "node:stream";
import type { Logger } from "pino";
import { parseDuration } from "../../api/duration.ts";
import type { ResolvedProfileSpec, SinkSpec } from "../../api/v1alpha1/types.ts";
import { loadTransportSecurity } from "../sinks/credentials.ts";
import { PrometheusSink } from "../sinks/prometheus-sink.ts";
import type { Sink } from "../sinks/sink.ts";
import { StdoutSink } from "../sinks/stdout-sink.ts";
import { VesSinkRunner } from "../sinks/ves-sink.ts";

/** What opening a profile's sinks needs from the agent. */
export interface SinkDeps {
  /** Spools live under `<stateDir>/spool/<profile>/<sink>`, so a changed sink picks up what its predecessor left. */
  stateDir: string;
  credentialsDir: string;
  stdout: Writable;
  log: Logger;
}

/** Opens one sink of a profile. */
export async function openSink(
  profile: string,
  spec: SinkSpec,
  events: ResolvedProfileSpec["events"],
  deps: SinkDeps,
): Promise<Sink> {
  if (spec.ves)
    return VesSinkRunner.open({
      name: spec.name,
      spec: spec.ves,
      vesVersion: events.vesVersion,
      spoolDir: join(deps.stateDir, "spool", profile, spec.name),
      security: await loadTransportSecurity(spec.ves, deps.credentialsDir),
      // deps.log already carries the profile; binding it again would repeat the key in every line.
      log: deps.log.child({ sink: spec.name }),
    });
  if (spec.stdout) return new StdoutSink(spec.name, { pretty: spec.stdout.pretty, out: deps.stdout });
  // A series lives while its collector refreshes it; three measurement windows without it is long enough to tell.
  if (spec.prometheus)
    return new PrometheusSink(spec.name, profile, { staleMs: 3 * parseDuration(events.measurementInterval) });
  throw new Error(`sink ${spec.name} has no kind`);
}

/** The key that decides whether a sink must be reopened: its spec and the VES version it speaks. */
export function sinkKey(spec: SinkSpec, events: ResolvedProfileSpec["events"]): string {
  return JSON.stringify([spec, events.vesVersion]);
}
