import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { CollectorEnv } from "../../agent/collectors/collector.ts";
import { type HostPathOptions, HostPaths } from "../../agent/host-paths.ts";

/** The captured host tree under test/fixtures (proc/ and sys/ as on a real host). */
export const FIXTURE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "../fixtures");

/** A CollectorEnv for tests: fixture host root by default, a settable clock, a silent logger. */
export function testEnv(
  paths: HostPathOptions = { root: FIXTURE_ROOT },
  clock?: { now: number },
): CollectorEnv {
  return {
    paths: new HostPaths(paths),
    now: () => clock?.now ?? Date.now(),
    log: pino({ level: "silent" }),
  };
}
