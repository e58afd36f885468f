// Worker entry of IsolatedValidator: validates NodeMonitors and profile specs for cluster mode. The validators
// (ajv, the CEL runtime, the TypeBox schemas) load here and go with the worker when it has been idle a while.
import { enableCompileCache } from "node:module";
import { parentPort } from "node:worker_threads";
import type { ValidationRequest } from "./cluster-validation.ts";

// V8's code cache on disk spares compiling the ~800 modules again each time a worker starts.
enableCompileCache();
const { validateRequest } = await import("./cluster-validation.ts");
parentPort?.on("message", (m: { id: number; request: ValidationRequest }) => {
  parentPort?.postMessage({ id: m.id, result: validateRequest(m.request) });
});
