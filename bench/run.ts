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
import { type CollectionResult, measureCollection, PLANS } from "./collection.ts";
import { collectionMarkdown } from "./collection-report.ts";
import { describeMachine, packageVersions } from "./proc.ts";
import { BENCH_PACKAGES, ensureBenchPackages } from "./setup.ts";

// Two benchmarks: the cost of validating a profile, which the agent does on every configuration change and
// the operator on every reconcile; and the collection cost on real TCG guests next to collectd and the
// Prometheus exporters (bench/collection.ts). `--quick` shrinks both; `--no-collection` runs the first only.
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

const log = (line: string) => process.stderr.write(`${line}\n`);
let collectionSection: string;
if (process.argv.includes("--no-collection")) collectionSection = "";
else {
  const mode = quick ? "quick" : "full";
  const plan = PLANS[mode];
  const date = result.date.slice(0, 10);
  const jsonFile = `collection-${date}${quick ? "-quick" : ""}.json`;
  try {
    const missing = ensureBenchPackages();
    if (missing.some((p) => !p.name.startsWith("prometheus-") && p.name !== "collectd-core"))
      throw new Error(`needs ${missing.map((p) => p.name).join(", ")} (run as root to install them)`);
    const skip = new Map<string, string>();
    for (const p of missing)
      skip.set(
        p.name === "collectd-core" ? "collectd" : "libvirt-exporter + node-exporter",
        `${p.name} is not installed`,
      );
    const collection: CollectionResult = await measureCollection(plan, { root, skip, log });
    const context = {
      date: result.date,
      mode,
      machine: await describeMachine(),
      versions: {
        vesmon: JSON.parse(await readFile(join(root, "package.json"), "utf8")).version as string,
        node: process.version,
        ...(await packageVersions(BENCH_PACKAGES.map((p) => p.name))),
      },
    } as const;
    await writeFile(
      join(root, "bench/results", jsonFile),
      `${JSON.stringify({ ...context, ...collection }, null, 2)}\n`,
    );
    collectionSection = collectionMarkdown(collection, context, jsonFile);
  } catch (err) {
    // The validation figures are still worth writing; the doc says what is missing and the exit code fails.
    log(`collection benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
    collectionSection = `## Collection cost on real VMs\n\nNot measured in the run of ${date}: ${(err as Error).message}\n`;
  }
}

const table = [
  "| What | median µs/profile | min | max |",
  "|---|---|---|---|",
  ...figures.map((f) => `| ${f.name} | ${f.medianMicros} | ${f.minMicros} | ${f.maxMicros} |`),
].join("\n");
const doc = `# Benchmarks

Written by \`npm run bench\` (\`npm run bench:quick\` for a smaller run); raw figures in \`bench/results/\`.
Run as root on a Debian host: the collection benchmark installs its peers (\`bench/setup.ts\`) and starts real guests.

Profile validation timings are medians over ${RUNS} runs of ${ITERATIONS} iterations on ${result.machine.cpus} × ${result.machine.model},
Node ${result.machine.node}, ${result.date.slice(0, 10)}.

## Profile validation

The agent validates every configuration it receives and the operator every profile it reconciles, so this
is the cost of one change, not of a collection cycle. The CEL rules are what the API server would check;
running them in-process costs the difference between the two rows.

${table}

${collectionSection}
Delivery, hot-apply and operator-scale benchmarks are still to come.
`;
await writeFile(join(root, "docs/benchmarks.md"), doc);
process.stdout.write(`${table}\n`);
