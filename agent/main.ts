#!/usr/bin/env node
import { parseArgs } from "node:util";
import { readProfiles } from "./config/profile-files.ts";
import { createLogger } from "./log.ts";

const USAGE = `usage: vesmon-agent --profile FILE|DIR

Reads MonitoringProfile YAML (a file, or every *.yaml in a directory), validates it with the same
schema and CEL rules as the cluster, and prints each profile with its defaults applied as one JSON
line on stdout. Refused documents are reported on stderr, naming the field, and the exit code is 2.
`;

async function main(): Promise<number> {
  const log = createLogger();
  let args: { profile?: string | undefined; help?: boolean | undefined };
  try {
    args = parseArgs({
      options: { profile: { type: "string", short: "p" }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!args.profile) {
    process.stderr.write(`--profile is required\n${USAGE}`);
    return 2;
  }
  const set = await readProfiles(args.profile);
  for (const e of set.errors) log.error({ source: e.source }, `profile refused: ${e.message}`);
  for (const p of set.profiles) {
    const { spec } = p.profile;
    log.info(
      {
        source: p.source,
        profile: p.profile.metadata.name,
        collectors: spec.collectors.map((c) => `${c.name}@${c.interval}`),
        sinks: spec.sinks.map((s) => s.name),
      },
      "profile valid",
    );
    process.stdout.write(`${JSON.stringify(p.profile)}\n`);
  }
  if (set.profiles.length === 0 && set.errors.length === 0) {
    log.error({ path: args.profile }, "no profiles found");
    return 2;
  }
  return set.errors.length ? 2 : 0;
}

process.exitCode = await main();
