// Preload (`node --import ./module-trace.ts …`) that records the URL of every module the main thread loads,
// ES modules and CommonJS alike, and writes them, one per line, to $MODULE_TRACE_FILE on SIGUSR2, followed by
// the Node builtins loaded since the preload, as `builtin:<id>` (`builtin:tls`, `builtin:internal/deps/undici/
// undici`). Worker threads inherit the preload but record nothing: their modules go with them.
import { writeFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { isMainThread } from "node:worker_threads";

const file = process.env.MODULE_TRACE_FILE;
if (isMainThread && file) {
  const loaded = new Set<string>();
  // process.moduleLoadList is undocumented but the only record of builtins; entries read "NativeModule <id>".
  const moduleLoadList = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
  const before = moduleLoadList.length;
  registerHooks({
    load(url, context, nextLoad) {
      loaded.add(url);
      return nextLoad(url, context);
    },
  });
  const builtins = () =>
    moduleLoadList
      .slice(before)
      .filter((m) => m.startsWith("NativeModule "))
      .map((m) => `builtin:${m.slice("NativeModule ".length)}`);
  process.on("SIGUSR2", () => writeFileSync(file, [...loaded, ...builtins()].join("\n")));
}
