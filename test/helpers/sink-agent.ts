// A child process standing in for the agent in the SIGKILL delivery test: opens a VES sink on a spool
// directory, enqueues `count` heartbeats numbered after `from`, prints "spooled" once they are on disk, and
// keeps delivering until killed. `node sink-agent.ts <spoolDir> <url> <count> <from>`.
import { VesSinkRunner } from "../../agent/sinks/ves-sink.ts";
import { sinkSpec } from "./sink-spec.ts";
import { heartbeats } from "./ves-events.ts";

const [spoolDir, url, count, from] = process.argv.slice(2) as [string, string, string, string];
const sink = await VesSinkRunner.open({
  name: "ves",
  vesVersion: "7.2.1",
  spoolDir,
  spec: sinkSpec(url),
});
sink.enqueue(heartbeats(Number(count), Number(from)));
await sink.flushed();
process.stdout.write("spooled\n");
setInterval(() => process.stdout.write(`${JSON.stringify(sink.status())}\n`), 100);
