// A child process for the spool's SIGKILL test: appends numbered records forever and prints each number
// once its append has resolved. `node spool-writer.ts <dir>`.
import { Spool } from "../../agent/sinks/spool.ts";

const spool = await Spool.open({
  dir: process.argv[2]!,
  maxBytes: 64 * 1024 * 1024,
  maxAgeMs: 3_600_000,
  segmentBytes: 64 * 1024,
});
for (let i = 0; ; i++) {
  await spool.append([Buffer.from(JSON.stringify({ i, pad: "x".repeat(200) }))]);
  process.stdout.write(`${i}\n`);
}
