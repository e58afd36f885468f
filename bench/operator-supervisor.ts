import { type ChildProcess, spawn } from "node:child_process";
import { type MemoryCgroup, makeMemoryCgroup } from "./memory-cgroup.ts";
import { cpuSeconds, rssMiB, terminate } from "./proc.ts";
import { OPERATOR_RUNTIME } from "./setup.ts";

// The operator process of the operator-scale benchmark, restarted when it exits as the kubelet restarts a
// container: the operator exits when it loses its lease (operator/main.ts), and on a machine shared with
// other work that can happen mid-run. CPU and peak RSS add up over every process it ran as.

/** One exit of the operator: when, why, and the last warnings and errors it logged. */
export interface OperatorExit {
  at: number;
  code: number | null;
  signal: string | null;
  lastLines: string[];
}

/** A JSON log line of the operator, parsed; a line that is not JSON counts as an error. */
interface LogEntry {
  level?: number;
  msg?: string;
  err?: string;
}

/**
 * Runs `node <entry> <args>` with the chart's V8 flags and env in a memory cgroup with the chart's limit (the
 * operator as deployed), and starts it again after each exit, until `stop()`.
 */
export class OperatorSupervisor {
  readonly exits: OperatorExit[] = [];
  /** When each milestone message was first logged (ms since the epoch). */
  readonly milestones: Record<string, number> = {};
  readonly warnings: string[] = [];
  warningCount = 0;
  #child: ChildProcess;
  #tail: string[] = [];
  #stopped = false;
  /** CPU and peak RSS of the processes that exited; the live one's are sampled every second. */
  #cpuDone = 0;
  #peakDone = 0;
  #lastCpu = 0;
  #lastPeak = 0;
  readonly #sampler: NodeJS.Timeout;
  readonly #cgroup: MemoryCgroup;

  readonly #entry: string;
  readonly #args: readonly string[];
  readonly #track: (c: ChildProcess) => void;
  readonly #milestoneMessages: readonly string[];

  /** Starts `node entry ...args`; `track` is given every process started, `milestones` the messages to time. */
  constructor(
    entry: string,
    args: readonly string[],
    track: (c: ChildProcess) => void,
    milestones: readonly string[] = ["informers synced", "leading"],
  ) {
    this.#entry = entry;
    this.#args = args;
    this.#track = track;
    this.#milestoneMessages = milestones;
    this.#cgroup = makeMemoryCgroup(`vesmon-bench-operator-${process.pid}`, OPERATOR_RUNTIME.memoryLimitMiB);
    this.#child = this.#start();
    this.#sampler = setInterval(() => void this.#sample(), 1000);
  }

  #start(): ChildProcess {
    // The shell moves itself into the cgroup and becomes node (exec), so node starts under the limit, same pid.
    const child = spawn(
      "/bin/sh",
      [
        "-c",
        'echo $$ > "$0" && exec "$@"',
        this.#cgroup.procs,
        process.execPath,
        ...OPERATOR_RUNTIME.nodeFlags,
        this.#entry,
        ...this.#args,
      ],
      { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...OPERATOR_RUNTIME.env } },
    );
    this.#track(child);
    let buffered = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) this.#line(line);
    });
    child.once("exit", (code, signal) => {
      if (this.#stopped) return;
      this.exits.push({ at: Date.now(), code, signal, lastLines: this.#tail.splice(0) });
      this.#cpuDone += this.#lastCpu;
      this.#peakDone = Math.max(this.#peakDone, this.#lastPeak);
      this.#lastCpu = 0;
      this.#child = this.#start();
    });
    return child;
  }

  #line(line: string): void {
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      entry = { level: 50, msg: line };
    }
    // The warnings and errors of the live process: what an exit is explained by.
    if ((entry.level ?? 0) >= 40) this.#tail.push(`${entry.msg}${entry.err ? `: ${entry.err}` : ""}`);
    if (this.#tail.length > 5) this.#tail.shift();
    if (entry.msg && this.#milestoneMessages.includes(entry.msg)) this.milestones[entry.msg] ??= Date.now();
    if ((entry.level ?? 0) >= 40) {
      this.warningCount++;
      if (this.warnings.length < 5) this.warnings.push(`${entry.msg}${entry.err ? `: ${entry.err}` : ""}`);
    }
  }

  async #sample(): Promise<void> {
    const pid = this.#child.pid;
    if (pid === undefined || this.#child.exitCode !== null) return;
    const cpu = await cpuSeconds(pid);
    const { peak } = await rssMiB(pid);
    if (cpu > 0) this.#lastCpu = cpu;
    if (peak > 0) this.#lastPeak = peak;
  }

  /** CPU seconds of every process so far (an exited one's as last sampled, at most a second old). */
  async cpuSeconds(): Promise<number> {
    await this.#sample();
    return this.#cpuDone + this.#lastCpu;
  }

  /** Peak RSS over every process, and the live one's RSS now, MiB. */
  async rssMiB(): Promise<{ peak: number; now: number }> {
    const now = this.#child.pid === undefined ? { peak: 0, now: 0 } : await rssMiB(this.#child.pid);
    return { peak: Math.max(this.#peakDone, now.peak), now: now.now };
  }

  /** Operator processes the kernel killed at the chart's memory limit so far. */
  oomKills(): number {
    return this.#cgroup.oomKills();
  }

  /** Stops the live process and restarts no more. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sampler);
    await terminate(this.#child);
    this.#cgroup.remove();
  }
}
