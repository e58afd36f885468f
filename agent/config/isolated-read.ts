import { Worker } from "node:worker_threads";
import type { ProfileSet } from "./profile-files.ts";

// The worker's file sits beside this one, as .ts when run from the sources and .js when built into dist/.
const WORKER = new URL(`./profile-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);

/**
 * readProfiles in a short-lived worker thread. Validation needs ajv, the CEL runtime and the TypeBox schemas,
 * about 15 MiB of heap and code that the main thread would keep for good (ES modules are never unloaded) to use
 * once per profile edit; the worker's isolate is freed when it ends. Never throws: a worker that fails is an
 * error in the result, like an unreadable file.
 */
export function readProfilesIsolated(path: string): Promise<ProfileSet> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (set: ProfileSet) => {
      if (settled) return;
      settled = true;
      resolve(set);
      void worker.terminate();
    };
    const fail = (message: string) => settle({ profiles: [], errors: [{ source: path, message }] });
    const worker = new Worker(WORKER, { workerData: path });
    worker.once("message", (set: ProfileSet) => settle(set));
    worker.once("error", (err: Error) => fail(`profile validation failed: ${err.message}`));
    worker.once("exit", (code) => fail(`profile validation ended without an answer (exit code ${code})`));
  });
}
