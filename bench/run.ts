import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { describeMachine, packageVersions } from "./proc.ts";
import { RUN_ORDER, type RunContext, SECTIONS, type Section } from "./sections.ts";
import { BENCH_PACKAGES } from "./setup.ts";

// `npm run bench` measures everything and writes docs/benchmarks.md; `--quick` measures less and writes
// bench/results/benchmarks-quick.md instead, so a quick look never replaces the published figures.
// `--only a,b` re-measures some benchmarks, `--render` none; the report is always rendered from every stored result.
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: { quick: { type: "boolean" }, only: { type: "string" }, render: { type: "boolean" } },
});
const quick = values.quick === true;
const names = SECTIONS.map((s) => s.name as string);
const only = values.render ? [] : (values.only?.split(",").map((s) => s.trim()) ?? names);
for (const n of only)
  if (!names.includes(n)) {
    process.stderr.write(`unknown benchmark "${n}"; known: ${names.join(", ")}\n`);
    process.exit(2);
  }
const log = (line: string) => process.stderr.write(`${line}\n`);
const results = join(root, "bench/results");
const fileOf = (name: string) => `${name}${quick ? "-quick" : ""}.json`;

interface Stored {
  context: RunContext;
  result?: unknown;
  error?: string;
}

const context: RunContext = {
  date: new Date().toISOString(),
  mode: quick ? "quick" : "full",
  machine: await describeMachine(),
  versions: {
    vesmon: JSON.parse(await readFile(join(root, "package.json"), "utf8")).version as string,
    node: process.version,
    ...(await packageVersions(BENCH_PACKAGES.map((p) => p.name))),
  },
};
await mkdir(results, { recursive: true });
for (const name of RUN_ORDER.filter((n) => only.includes(n))) {
  const section = SECTIONS.find((s) => s.name === name) as Section<unknown>;
  log(`--- ${name}`);
  const started = Date.now();
  let stored: Stored;
  try {
    stored = { context, result: await section.measure({ root, quick, log }) };
  } catch (err) {
    // The other benchmarks are still worth running; the report says what is missing and the exit code fails.
    log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
    stored = { context, error: (err as Error).message };
  }
  log(`--- ${name}: ${Math.round((Date.now() - started) / 1000)} s`);
  await writeFile(join(results, fileOf(name)), `${JSON.stringify(stored, null, 2)}\n`);
}

const sections: string[] = [];
const dates = new Set<string>();
for (const s of SECTIONS as readonly Section<unknown>[]) {
  const stored = (await readFile(join(results, fileOf(s.name)), "utf8").then(
    (t) => JSON.parse(t) as Stored,
    () => undefined,
  )) as Stored | undefined;
  const title = s.name;
  if (!stored) sections.push(`## ${title}\n\nNot measured yet: \`npm run bench -- --only ${s.name}\`.\n`);
  else if (stored.error !== undefined)
    sections.push(
      `## ${title}\n\nNot measured in the run of ${stored.context.date.slice(0, 10)}: ${stored.error}\n`,
    );
  else {
    dates.add(stored.context.date.slice(0, 10));
    sections.push(s.markdown(stored.result, stored.context, fileOf(s.name)));
  }
}
// Measured by hand (its method is in the file), so kept as written rather than rendered from bench/results/.
sections.push(await readFile(join(root, "bench/memory.md"), "utf8"));
const m = context.machine;
const versions = Object.entries(context.versions)
  .map(([k, v]) => `${k} ${v}`)
  .join(", ");
const doc = `# Benchmarks

Written by \`npm run bench${quick ? ":quick" : ""}\` from the raw figures in \`bench/results/\` (measured ${[...dates].sort().join(", ")}${quick ? ", quick mode" : ""}).
${quick ? "`npm run bench` measures everything and writes `docs/benchmarks.md`" : "`npm run bench:quick` measures less and writes `bench/results/benchmarks-quick.md` instead"};
\`npm run bench${quick ? ":quick" : ""} -- --only ${names.join(",")}\` re-measures some and renders this page again.
Run as root on a Debian host: the collection benchmark installs its peers (\`bench/setup.ts\`) and starts real guests.
Figures, not tests: nothing here fails a build.

**Machine:** ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, kernel ${m.kernel}, cgroup ${m.cgroup}.
**Versions:** ${versions}.

${sections.join("\n")}`;
await writeFile(join(root, quick ? "bench/results/benchmarks-quick.md" : "docs/benchmarks.md"), doc);
log(`wrote ${quick ? "bench/results/benchmarks-quick.md" : "docs/benchmarks.md"}`);
