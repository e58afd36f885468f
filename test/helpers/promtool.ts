import { spawn } from "node:child_process";

/** What promtool printed (stdout and stderr together, trimmed) and its exit code. */
export interface PromtoolResult {
  code: number | null;
  output: string;
}

/** Runs Debian's `promtool` with `args`, feeding `stdin` when given (e.g. an exposition to `check metrics`). */
export function promtool(args: readonly string[], stdin?: string): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const p = spawn("promtool", args, { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    p.stdout.on("data", (c: Buffer) => {
      output += c.toString();
    });
    p.stderr.on("data", (c: Buffer) => {
      output += c.toString();
    });
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, output: output.trim() }));
    p.stdin.end(stdin ?? "");
  });
}
