#!/usr/bin/env node
import { parseCli } from "../kube/cli.ts";
import { createLogger } from "../kube/log.ts";
import { AGENT_OPTIONS, AGENT_USAGE } from "./cli-options.ts";
import { bindEarly, parseListen } from "./listen.ts";
import { prepareStateDir } from "./state-dir.ts";

// This entry loads only what the start-up checks need; the agent is imported after them. Start-up errors an
// operator must fix (a state dir that cannot be made, a port in use) are then fatal within a second, in one
// line, even where loading the agent takes several: a pod whose probes fail for a reason it never logged, or an
// agent collecting with nowhere to keep its spools, helps nobody.
const log = createLogger("vesmon-agent", process.env.AGENT_LOG_LEVEL ?? "info");

async function main(): Promise<number | undefined> {
  const cli = parseCli(AGENT_OPTIONS, AGENT_USAGE);
  if (!cli.ok) return cli.code;
  const args = cli.values;
  if (args.check) {
    if (!args.profile) {
      process.stderr.write(`--check needs --profile\n${AGENT_USAGE}`);
      return 2;
    }
    return (await import("./run.ts")).checkProfiles(args.profile, log);
  }
  const stateDir = await prepareStateDir(
    args["state-dir"] ?? process.env.AGENT_STATE_DIR ?? "/var/lib/vesmon",
  );
  if (!stateDir.ok) {
    log.fatal(`cannot start: ${stateDir.error}`);
    return 1;
  }
  const listen = args.listen ?? "127.0.0.1:9464";
  let http: Awaited<ReturnType<typeof bindEarly>> | undefined;
  if (listen) {
    const at = parseListen(listen);
    if (!at.ok) {
      log.fatal(`cannot start: ${at.error}`);
      return 2;
    }
    try {
      http = await bindEarly(at.host, at.port);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      log.fatal(
        `cannot start: cannot listen on ${listen} for /healthz, /readyz and /metrics (${e.code ?? e.message}); choose another with --listen HOST:PORT, or --listen "" for none`,
      );
      return 1;
    }
  }
  const { runAgent } = await import("./run.ts");
  return runAgent({ args, log, stateDir: stateDir.path, ...(http ? { http } : {}) });
}

const code = await main();
if (code !== undefined) process.exitCode = code;
