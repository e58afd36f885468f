import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { SchemaNode } from "../api/cel.ts";
import { MonitoringProfileSchema } from "../api/v1alpha1/monitoring-profile.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import { createAjv } from "../api/validate.ts";

// Benchmarks that exist so far: the cost of validating a profile, which the agent does on every
// configuration change and the operator on every reconcile. Peers arrive with the agent (issue "Benchmarks").
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const RUNS = quick ? 3 : 7;
const ITERATIONS = quick ? 200 : 2000;

interface Figure {
  name: string;
  medianMicros: number;
  minMicros: number;
  maxMicros: number;
}

function measure(name: string, fn: () => unknown): Figure {
  for (let i = 0; i < 50; i++) fn();
  const perRun: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    for (let i = 0; i < ITERATIONS; i++) fn();
    perRun.push(((performance.now() - start) * 1000) / ITERATIONS);
  }
  perRun.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    name,
    medianMicros: round(perRun[Math.floor(perRun.length / 2)]!),
    minMicros: round(perRun[0]!),
    maxMicros: round(perRun.at(-1)!),
  };
}

const nfvi = parse(await readFile(join(root, "examples/profiles/nfvi.yaml"), "utf8")) as unknown;
const ajvCheck = createAjv().compile(MonitoringProfileSchema as unknown as SchemaNode);

const figures = [
  measure("JSON schema only (ajv, defaults), nfvi.yaml", () => ajvCheck(structuredClone(nfvi))),
  measure("full validator (schema + list-map keys + CEL), nfvi.yaml", () => validateMonitoringProfile(nfvi)),
];

const result = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  runs: RUNS,
  iterationsPerRun: ITERATIONS,
  figures,
};
await mkdir(join(root, "bench/results"), { recursive: true });
await writeFile(join(root, "bench/results/api-validation.json"), `${JSON.stringify(result, null, 2)}\n`);

const table = [
  "| What | median µs/profile | min | max |",
  "|---|---|---|---|",
  ...figures.map((f) => `| ${f.name} | ${f.medianMicros} | ${f.minMicros} | ${f.maxMicros} |`),
].join("\n");
const doc = `# Benchmarks

Written by \`npm run bench\` (\`npm run bench -- --quick\` for a smaller run); raw figures in \`bench/results/\`.
Timings are medians over ${RUNS} runs of ${ITERATIONS} iterations on ${result.machine.cpus} × ${result.machine.model},
Node ${result.machine.node}, ${result.date.slice(0, 10)}.

## Profile validation

The agent validates every configuration it receives and the operator every profile it reconciles, so this
is the cost of one change, not of a collection cycle. The CEL rules are what the API server would check;
running them in-process costs the difference between the two rows.

${table}

Collection, delivery, hot-apply and operator benchmarks, with collectd and the Prometheus exporters side by
side, come with the agent and operator.
`;
await writeFile(join(root, "docs/benchmarks.md"), doc);
process.stdout.write(`${table}\n`);
