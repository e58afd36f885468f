import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parse } from "yaml";
import type { SchemaNode } from "../api/cel.ts";
import { MonitoringProfileSchema } from "../api/v1alpha1/monitoring-profile.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import { createAjv } from "../api/validate.ts";

/** One timed operation: microseconds per call, median and range over the runs. */
export interface ValidationFigure {
  name: string;
  medianMicros: number;
  minMicros: number;
  maxMicros: number;
}

/** What the validation benchmark measured. */
export interface ValidationResult {
  runs: number;
  iterationsPerRun: number;
  figures: ValidationFigure[];
}

/**
 * Times validating the NFVI example profile: the JSON schema alone, and the full validator with the CEL rules
 * the API server would run. The agent pays this on every configuration change, the operator on every reconcile.
 */
export async function measureValidation(opts: { root: string; quick: boolean }): Promise<ValidationResult> {
  const runs = opts.quick ? 3 : 7;
  const iterations = opts.quick ? 200 : 2000;
  const measure = (name: string, fn: () => unknown): ValidationFigure => {
    for (let i = 0; i < 50; i++) fn();
    const perRun: number[] = [];
    for (let r = 0; r < runs; r++) {
      const start = performance.now();
      for (let i = 0; i < iterations; i++) fn();
      perRun.push(((performance.now() - start) * 1000) / iterations);
    }
    perRun.sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      name,
      medianMicros: round(perRun[Math.floor(perRun.length / 2)]!),
      minMicros: round(perRun[0]!),
      maxMicros: round(perRun.at(-1)!),
    };
  };
  const nfvi = parse(await readFile(join(opts.root, "examples/profiles/nfvi.yaml"), "utf8")) as unknown;
  const ajvCheck = createAjv().compile(MonitoringProfileSchema as unknown as SchemaNode);
  return {
    runs,
    iterationsPerRun: iterations,
    figures: [
      measure("JSON schema only (ajv, defaults), nfvi.yaml", () => ajvCheck(structuredClone(nfvi))),
      measure("full validator (schema + list-map keys + CEL), nfvi.yaml", () =>
        validateMonitoringProfile(nfvi),
      ),
    ],
  };
}

/** The `## Profile validation` section. */
export function validationMarkdown(result: ValidationResult): string {
  return `## Profile validation

The agent validates every configuration it receives and the operator every profile it reconciles, so this
is the cost of one change, not of a collection cycle. The CEL rules are what the API server would check;
running them in-process costs the difference between the two rows. Medians over ${result.runs} runs of
${result.iterationsPerRun} iterations.

| What | median µs/profile | min | max |
|---|---|---|---|
${result.figures.map((f) => `| ${f.name} | ${f.medianMicros} | ${f.minMicros} | ${f.maxMicros} |`).join("\n")}
`;
}
