// Worker entry of readProfilesIsolated: reads and validates the profiles at workerData (a path) and posts the
// ProfileSet back. The validators (ajv, the CEL runtime, the TypeBox schemas) load here and go with the worker.
import { parentPort, workerData } from "node:worker_threads";
import { readProfiles } from "./profile-files.ts";

parentPort?.postMessage(await readProfiles(workerData as string));
