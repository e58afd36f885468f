// A child process for the SIGKILL delivery test: the real VES sink (spool, transport, retry) on a spool
// directory. Prints "open" once the spool is recovered, then appends numbered events `from` to
// `from + count - 1` in groups of 5, printing "appended <n>" once every event below n is in the spool, then
// keeps delivering and prints "queued <n>" and "dropped <json by reason>" every 20 ms, until killed. It imports the sink and little else,
// so that it starts fast: the parent builds the events (numberedEvents) and writes them to a JSON file.
// `node kill-child.ts <spoolDir> <url> <from> <count> <events.json>`.
import { readFile } from "node:fs/promises";
import { VesSinkRunner } from "../../agent/sinks/ves-sink.ts";
import { sinkSpec } from "./sink-spec.ts";

const [spoolDir, url, from, count, eventsFile] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const events = JSON.parse(await readFile(eventsFile, "utf8")) as object[];
const sink = await VesSinkRunner.open({
  name: "ves",
  vesVersion: "7.2.1",
  spoolDir,
  spec: sinkSpec(url, {
    batch: { maxEvents: 5, maxBytes: "1Mi" },
    buffer: { maxBytes: "8Mi", maxAge: "1h" },
  }),
  // Small segment files, so kills also land around segment rolls and deletions (about one roll per 30 events).
  spoolSegmentBytes: 64 * 1024,
});
process.stdout.write("open\n");
// The parent stops reading once it has what it needs; a closed pipe is no reason to die before the kill.
process.stdout.on("error", () => {});
setInterval(() => {
  const st = sink.status();
  process.stdout.write(`queued ${st.queued}\ndropped ${JSON.stringify(st.droppedByReason)}\n`);
}, 20);
const first = Number(from);
const end = first + Number(count);
for (let i = first; i < end; i += 5) {
  sink.enqueue(events.slice(i - first, Math.min(i + 5, end) - first));
  await sink.flushed();
  process.stdout.write(`appended ${Math.min(i + 5, end)}\n`);
}
