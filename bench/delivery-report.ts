import { FRAME_HEADER } from "../agent/sinks/spool-frame.ts";
import { parseDuration } from "../api/duration.ts";
import { parseQuantity } from "../api/quantity.ts";
import type { DeliveryResult, ThroughputRun } from "./delivery.ts";

const MIB = 2 ** 20;

function median(values: readonly number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return {
    median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2,
    min: s[0] ?? Number.NaN,
    max: s.at(-1) ?? Number.NaN,
  };
}

/** `12.3`, or `12.3 (11.0–14.1)` over several runs. */
function fig(runs: readonly ThroughputRun[], pick: (r: ThroughputRun) => number, digits: number): string {
  const m = median(runs.map(pick));
  const f = (n: number) => n.toFixed(digits);
  return m.min === m.max ? f(m.median) : `${f(m.median)} (${f(m.min)}–${f(m.max)})`;
}

const seconds = (duration: string) => parseDuration(duration) / 1000;
const minutes = (seconds: number) => (seconds % 3600 === 0 ? `${seconds / 3600} h` : `${seconds / 60} min`);

/** The "Delivery" section of docs/benchmarks.md, findings included, from the measured figures. */
export function deliveryMarkdown(result: DeliveryResult): string {
  const d = result.defaults;
  const r = result.replay;
  const maxEvents = d.batchMaxEvents;
  const runs = (v: ThroughputRun["validation"]) => result.throughput.filter((t) => t.validation === v);
  const schema = runs("schema");
  const envelope = runs("envelope");
  const reps = Math.max(schema.length, envelope.length);
  const outage = minutes(r.simulatedSeconds);

  const burstRow = (label: string, rs: readonly ThroughputRun[]) =>
    `| ${label} | ${rs[0]?.events ?? 0} | ${fig(rs, (t) => t.seconds, 2)} | **${fig(rs, (t) => t.eventsPerSecond, 0)}** | ${fig(rs, (t) => t.mbPerSecond, 2)} | ${fig(rs, (t) => t.eventsPerRequest, 1)} | ${fig(rs, (t) => t.senderCpuMsPer1000, 0)} | ${fig(rs, (t) => t.listenerCpuMsPer1000, 0)} |`;
  const table = [
    "| Run | Events | Seconds | Events/s | MB/s | Events/request | Sender CPU ms/1000 events | Listener CPU ms/1000 events |",
    "|---|---|---|---|---|---|---|---|",
    burstRow("Burst; listener validates each event against the schema (default)", schema),
    burstRow("Burst; listener checks the envelope only (`--envelope-only`)", envelope),
    `| Outage${result.mode === "quick" ? " (quick: 10 min, not 1 h)" : ""}: ${outage} of events into the spool, listener down | ${r.events} | ${r.writeSeconds.toFixed(2)} | ${Math.round(r.events / r.writeSeconds)} | ${(r.payloadBytes / 1e6 / r.writeSeconds).toFixed(2)} | – | ${r.writeCpuMsPer1000.toFixed(0)} ² | – |`,
    `| Replay of that spool once the listener is up (schema, \`--record\`) | ${r.events} | ${r.drainSeconds.toFixed(2)} | **${r.eventsPerSecond}** | ${r.mbPerSecond.toFixed(2)} | ${r.eventsPerRequest.toFixed(1)} | ${r.senderCpuMsPer1000.toFixed(0)} | ${r.listenerCpuMsPer1000.toFixed(0)} ¹ |`,
  ].join("\n");

  const perHourBytes = (r.spoolDiskBytes * 3600) / r.simulatedSeconds;
  const bufferBytes = parseQuantity(d.bufferMaxBytes);
  const intact = r.duplicates === 0 && r.missing === 0 && r.accepted === r.events && r.inOrder;
  const details =
    `Spool after ${outage} (${r.measurementEvents} measurement events and ${r.heartbeatEvents} heartbeats): ` +
    `${(r.spoolDiskBytes / MIB).toFixed(1)} MiB on disk (du of ${r.spoolFiles} segment file${r.spoolFiles === 1 ? "" : "s"}), ` +
    `${Math.round(r.spoolDiskBytes / r.events)} bytes per event (${Math.round(r.payloadBytes / r.events)} of JSON plus a ${FRAME_HEADER}-byte record header). ` +
    `Building the events took ${r.buildSeconds.toFixed(1)} s more (not counted); the sink made ${r.retriesWhileDown} delivery attempts meanwhile. ` +
    `After the listener printed its URL the first batch was acknowledged in ${r.firstAcceptSeconds.toFixed(2)} s; from then on the replay ran at ${r.steadyEventsPerSecond} events/s. ` +
    `Sender RSS ${r.senderRssBeforeMiB.toFixed(0)} MiB before the replay, peak ${r.senderPeakRssMiB.toFixed(0)} MiB during it ` +
    `(${r.peakMethod === "VmHWM" ? "VmHWM, reset when the listener came up" : "sampled every 5 ms"}; ${r.peakWriteRssMiB.toFixed(0)} MiB at most while spooling). ` +
    `The listener accepted ${r.accepted} of ${r.events} events and recorded ${r.received} eventIds: ${r.duplicates} duplicate${r.duplicates === 1 ? "" : "s"}, ${r.missing} missing, ${r.inOrder ? "in order" : "**not in order**"} per domain. ` +
    `Once drained, ${r.spoolFilesAfterDrain} segment file${r.spoolFilesAfterDrain === 1 ? "" : "s"} (${(r.spoolApparentBytesAfterDrain / MIB).toFixed(1)} MiB) stay${r.spoolFilesAfterDrain === 1 ? "s" : ""} on disk until the spool rolls to a new one.\n\n` +
    "¹ Includes the listener compiling the VES schema on its first request and writing every event to its record file. " +
    "² Includes the sink's delivery attempts against the closed port while it writes.";

  const off = result.throughput.filter((t) => t.accepted !== t.events || t.refusedRequests > 0);
  const check = off.length
    ? `\n\n**Check:** ${off.map((t) => `burst ${t.validation} ${t.repetition}: ${t.accepted} of ${t.events} events accepted, ${t.refusedRequests} requests refused`).join("; ")}.`
    : "";

  const findings: string[] = [];
  const sEps = median(schema.map((t) => t.eventsPerSecond)).median;
  const eEps = median(envelope.map((t) => t.eventsPerSecond)).median;
  const sCpu = median(schema.map((t) => t.listenerCpuMsPer1000)).median;
  const eCpu = median(envelope.map((t) => t.listenerCpuMsPer1000)).median;
  const senderCpu = median(schema.map((t) => t.senderCpuMsPer1000)).median;
  // What a node with these VMs produces at the default intervals: one event per source and interval, plus heartbeats.
  const perMinute =
    (result.vms + 1) * (60 / seconds(d.measurementInterval)) + 60 / seconds(d.heartbeatInterval);
  const busy = Math.round((senderCpu * sEps) / 10_000);
  const lead =
    senderCpu > 2 * sCpu
      ? `- **The sender, not the listener, limits delivery:** the sink spends ${senderCpu.toFixed(0)} ms of CPU per 1000 events (serialising, spool write and read, HTTP; ${busy}% of a core during the burst), the listener ${sCpu.toFixed(0)} validating against the schema and ${eCpu.toFixed(0)} checking the envelope only, `
      : `- **The listener's validation weighs:** it spends ${sCpu.toFixed(0)} ms of CPU per 1000 events validating against the schema and ${eCpu.toFixed(0)} checking the envelope only, the sink ${senderCpu.toFixed(0)} (serialising, spool write and read, HTTP), `;
  const sRange = median(schema.map((t) => t.eventsPerSecond));
  const eRange = median(envelope.map((t) => t.eventsPerSecond));
  const noise =
    reps < 2
      ? "; one run each, so take the rates with care on a shared machine"
      : sRange.max >= eRange.min && eRange.max >= sRange.min
        ? `; the ${reps} runs' ranges overlap, so the difference in rate is within this machine's noise`
        : "";
  findings.push(
    `${lead}so validating against the schema costs the listener ${(sCpu - eCpu).toFixed(0)} ms more per 1000 events, ${Math.round(((sCpu - eCpu) / senderCpu) * 100)}% of what the sink spends ` +
      `(burst rates ${sEps} against ${eEps} events/s${noise}). ` +
      `A node with ${result.vms} VMs produces ${perMinute.toFixed(0)} events a minute at the default intervals: about ${((senderCpu * perMinute) / 1000).toFixed(0)} ms of sender CPU a minute, ` +
      `and one sink delivers ${Math.round((Math.min(sEps, eEps) * 60) / perMinute)} times that rate.`,
  );
  const burstPerRequest = median(schema.map((t) => t.eventsPerRequest)).median;
  const perInterval = result.vms + 1;
  const expected = (perInterval + 1) / (Math.ceil(perInterval / maxEvents) + 1);
  if (Math.max(burstPerRequest, r.eventsPerRequest) < 0.9 * maxEvents)
    findings.push(
      `- **Batches do not fill:** requests carried ${burstPerRequest.toFixed(1)} events on average in the burst and ${r.eventsPerRequest.toFixed(1)} in the replay, against batch.maxEvents ${maxEvents}; ` +
        `${maxEvents} VM events are ${((maxEvents * result.eventBytes.vm) / 1e6).toFixed(2)} MB, so batch.maxBytes ${d.batchMaxBytes} never binds. A batch carries one domain, so each interval's ${perInterval} measurement events ` +
        `go out in ${Math.ceil(perInterval / maxEvents)} request${perInterval > maxEvents ? "s" : ""} and its heartbeat in one of its own: ${expected.toFixed(1)} events per request at best.`,
    );
  findings.push(
    `- **${bufferBytes >= perHourBytes ? "An hour's outage fits the default spool" : "An hour's outage does not fit the default spool"}, and replays in ${r.drainSeconds < 60 ? "seconds" : "minutes"}:** ${(perHourBytes / MIB).toFixed(1)} MiB per hour for ${result.vms} VMs, so buffer.maxBytes ${d.bufferMaxBytes} would hold ` +
      `${(bufferBytes / perHourBytes).toFixed(1)} hours; but buffer.maxAge ${d.bufferMaxAge} drops events that old when they come up, so with the defaults an outage longer than ${d.bufferMaxAge} loses its oldest events whatever the size (not exercised here: the events were spooled within seconds). ` +
      `The ${outage} of events drained in ${r.drainSeconds.toFixed(1)} s, ${r.steadyEventsPerSecond} events/s after the first batch${r.steadyEventsPerSecond < 0.8 * sEps ? `, below the burst's ${sEps} (the listener also writes every event to its record file)` : ""}.`,
  );
  const growth = r.senderPeakRssMiB - r.senderRssBeforeMiB;
  findings.push(
    intact
      ? `- **Nothing lost, nothing duplicated:** all ${r.events} eventIds arrived once and in order; the sender's RSS rose by ${growth.toFixed(0)} MiB during the replay${growth < 20 ? ", so its memory does not follow the spool's size" : ""}.`
      : `- **Delivery was not exact:** ${r.accepted} of ${r.events} accepted, ${r.duplicates} duplicates, ${r.missing} missing${r.inOrder ? "" : ", out of order"}, ${r.droppedBySink} dropped by the sink.`,
  );

  return `## Delivery

The agent's own VES sink (\`VesSinkRunner\`: durable spool, keep-alive HTTP transport) runs in a child process
and posts to \`vesmon-listener\` in another (log level warn, no events kept in memory), both on Node ${process.version}.
Events are VES 7.2.1 measurement events for ${result.vms} VMs (${result.eventBytes.vm} bytes of JSON each) and the host
(${result.eventBytes.host} bytes), built by the agent's builders from synthetic samples (six 10 s collections per window),
plus heartbeats (${result.eventBytes.heartbeat} bytes), at the CRD defaults: measurementInterval ${d.measurementInterval},
heartbeatInterval ${d.heartbeatInterval}, batch ${d.batchMaxEvents} events / ${d.batchMaxBytes}, timeout ${d.timeout},
spool ${d.bufferMaxBytes} / ${d.bufferMaxAge}. A burst is ${schema[0]?.events ?? 0} events enqueued at once after a warm-up,
timed until the last is acknowledged${reps > 1 ? ` (median and range of ${reps} runs)` : ""}. For the outage the listener is not started
until the events are spooled (built by the driver and streamed to the sender, so its memory is the sink's); retry backoff is shortened to ${result.replayRetry.initialBackoff}–${result.replayRetry.maxBackoff}
(defaults ${d.initialBackoff}–${d.maxBackoff}) so the bench does not wait, and the drain is timed from the listener
printing its URL until the spool is empty. MB are 10^6 bytes of request body (of event JSON while writing the spool);
CPU is utime + stime of each process over the timed part. Mode: ${result.mode}.

${table}

${details}${check}

${findings.join("\n")}
`;
}
