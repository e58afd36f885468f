// Preload (`node --import ./module-trace.ts …`) that records the URL of every module the main thread loads,
// ES modules and CommonJS alike, and writes them, one per line, to $MODULE_TRACE_FILE on SIGUSR2. Worker
// threads inherit the preload but record nothing: their modules go with them.
import { writeFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { isMainThread } from "node:worker_threads";

const file = process.env.MODULE_TRACE_FILE;
if (isMainThread && file) {
  const loaded = new Set<string>();
  registerHooks({
    load(url, context, nextLoad) {
      loaded.add(url);
      return nextLoad(url, context);
    },
  });
  process.on("SIGUSR2", () => writeFileSync(file, [...loaded].join("\n")));
}
