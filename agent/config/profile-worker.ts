// Worker entry of readProfilesIsolated: reads and validates the profiles at workerData (a path) and posts the
// ProfileSet back. The validators (ajv, the CEL runtime, the TypeBox schemas) load here and go with the worker.
import { enableCompileCache } from "node:module";
import { parentPort, workerData } from "node:worker_threads";

// Each edit starts a worker that loads ~800 modules; V8's code cache on disk (under the OS temp dir) spares
// compiling them again. Loaded after it, so that the cache covers them.
enableCompileCache();
const { readProfiles } = await import("./profile-files.ts");
parentPort?.postMessage(await readProfiles(workerData as string));
