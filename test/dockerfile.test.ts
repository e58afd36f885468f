// The Dockerfile cannot be built here (no Docker engine), so this checks it by reading it: the stages, the user,
// the production install, that what it copies is in the build context, and that the scripts it runs are built.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AGENT_RUNTIME } from "../bench/setup.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string) => readFileSync(join(root, path), "utf8");

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions: comment lines dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (/^\s*#/.test(line) || (!pending && line.trim() === "")) return;
    const continued = /\\\s*$/.test(line);
    const body = line.replace(/\\\s*$/, "");
    pending = pending
      ? { text: `${pending.text} ${body.trim()}`, line: pending.line }
      : { text: body, line: i + 1 };
    if (continued) return;
    const m = /^\s*(\S+)\s*(.*)$/.exec(pending.text);
    if (m)
      out.push({
        keyword: (m[1] as string).toUpperCase(),
        args: (m[2] as string).trim(),
        line: pending.line,
      });
    pending = undefined;
  });
  return out;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith("--"));
      const as = words.findIndex((w) => w.toLowerCase() === "as");
      stages.push({ image: words[0] as string, name: as >= 0 ? words[as + 1] : undefined, instructions: [] });
    } else stages.at(-1)?.instructions.push(ins);
  }
  return stages;
}

/** COPY/ADD arguments: flags (`--from=build`) and the sources (every word but the last). */
function copyArgs(ins: Instruction): { flags: Record<string, string>; sources: string[]; dest: string } {
  const words = ins.args.startsWith("[") ? (JSON.parse(ins.args) as string[]) : ins.args.split(/\s+/);
  const flags: Record<string, string> = {};
  while (words[0]?.startsWith("--")) {
    const [k, v = ""] = (words.shift() as string).slice(2).split("=", 2);
    flags[k as string] = v;
  }
  return { flags, sources: words.slice(0, -1), dest: words.at(-1) as string };
}

/** A pattern of .dockerignore as Docker's patternmatcher compiles it (`*`, `?`, `**`; anchored). */
function patternRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "*" && pattern[i + 1] === "*") {
      i++;
      if (pattern[i + 1] === "/") i++;
      re += i + 1 >= pattern.length ? ".*" : "(.*/)?";
    } else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Whether .dockerignore leaves `path` out of the build context: the last pattern matching it or a parent wins. */
function dockerignored(ignore: string, path: string): boolean {
  const rules = ignore
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const pattern = (negate ? l.slice(1) : l).trim().replace(/^\/+/, "").replace(/\/+$/, "");
      return { negate, re: patternRegExp(pattern) };
    });
  const parts = path.split("/");
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const rule of rules) if (candidates.some((c) => rule.re.test(c))) excluded = !rule.negate;
  return excluded;
}

function filesUnder(path: string): string[] {
  const abs = join(root, path);
  if (!statSync(abs).isDirectory()) return [path];
  return readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(root, join(d.parentPath, d.name)));
}

const dockerfile = read("Dockerfile");
const ignore = read(".dockerignore");
const instructions = parseDockerfile(dockerfile);
const stages = stagesOf(instructions);
const final = stages.at(-1) as Stage;
const pkg = JSON.parse(read("package.json")) as {
  version: string;
  bin: Record<string, string>;
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};
const nodeMajor = /(\d+)/.exec(pkg.devDependencies.node ?? "")?.[1];
/** The stage the final one copies its whole file system from. */
const rootfsStage = stages.find(
  (s) =>
    s.name ===
    final.instructions.map((i) => (i.keyword === "COPY" ? copyArgs(i).flags.from : undefined)).find(Boolean),
) as Stage;
const buildStage = stages.find((s) => s.instructions.some((i) => /\bnpm run build\b/.test(i.args)));

/** Files of this repository the build's tsc reads (sources and imported JSON), relative to the root. */
const compiled: string[] = execFileSync(
  process.execPath,
  [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--listFilesOnly"],
  { cwd: root, encoding: "utf8" },
)
  .split("\n")
  .filter((f) => f.trim() && !f.includes("/node_modules/"))
  .map((f) => relative(root, f.trim()));

describe("Dockerfile", () => {
  it("builds every stage but the last on BASE_IMAGE, which defaults to the Node major the project pins", () => {
    expect(nodeMajor).toBe("24");
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const arg = instructions.find((i) => i.keyword === "ARG" && i.args.startsWith("BASE_IMAGE="));
    expect(arg, "a global ARG BASE_IMAGE before the first FROM").toBeDefined();
    expect((arg as Instruction).line).toBeLessThan(
      Math.min(...instructions.filter((i) => i.keyword === "FROM").map((i) => i.line)),
    );
    expect((arg as Instruction).args.slice("BASE_IMAGE=".length)).toMatch(
      new RegExp(`^node:${nodeMajor}(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$`),
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile variable, not a template.
    for (const s of stages.slice(0, -1)) expect(s.image).toBe("${BASE_IMAGE}");
  });

  it("makes the final stage distroless: FROM scratch, one file system copied in, no shell form", () => {
    expect(final.image).toBe("scratch");
    const copies = final.instructions.filter((i) => i.keyword === "COPY").map(copyArgs);
    expect(copies).toEqual([
      { flags: { from: rootfsStage.name as string }, sources: ["/rootfs/"], dest: "/" },
    ]);
    for (const run of final.instructions.filter((i) => i.keyword === "RUN"))
      expect(run.args.startsWith("["), `line ${run.line}: exec form (there is no /bin/sh)`).toBe(true);
    // The rootfs stage copies node and every library ldd names, so the loader finds them.
    const rootfsRuns = rootfsStage.instructions
      .filter((i) => i.keyword === "RUN")
      .map((i) => i.args)
      .join("\n");
    expect(rootfsRuns).toMatch(/\bldd\b/);
    expect(rootfsRuns).toContain("/rootfs/etc/passwd");
  });

  it("runs the final stage as a numeric non-root user", () => {
    const user = final.instructions.filter((i) => i.keyword === "USER").at(-1);
    expect(user, "the final stage sets USER").toBeDefined();
    const [uid, gid] = (user as Instruction).args.split(":");
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).not.toBe(0);
    if (gid !== undefined) expect(Number(gid)).not.toBe(0);
    expect(uid).toBe("65532");
  });

  it("installs only production dependencies, without install scripts, in the final image's file system", () => {
    const installs = rootfsStage.instructions.filter(
      (i) => i.keyword === "RUN" && /\bnpm (ci|install|i)\b/.test(i.args),
    );
    expect(installs).toHaveLength(1);
    const run = (installs[0] as Instruction).args;
    expect(run).toMatch(/\bnpm ci\b/);
    expect(run).toContain("--omit=dev");
    expect(run).toContain("--ignore-scripts");
    // The lockfile is what npm ci installs from.
    const copied = rootfsStage.instructions
      .filter((i) => i.keyword === "COPY" && !copyArgs(i).flags.from)
      .flatMap((i) => copyArgs(i).sources);
    expect(copied).toEqual(expect.arrayContaining(["package.json", "package-lock.json"]));
  });

  it("builds with the committed lockfile and npm run build", () => {
    expect(buildStage, "a stage runs npm run build").toBeDefined();
    const runs = (buildStage as Stage).instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm install\b/.test(r))).toBe(false);
  });

  it("copies from the build context only paths that exist and .dockerignore lets in", () => {
    for (const ins of instructions.filter((i) => i.keyword === "COPY" || i.keyword === "ADD")) {
      const { flags, sources } = copyArgs(ins);
      if (flags.from) {
        // From an earlier stage: that stage exists and the path is what the build produces (dist/).
        expect(
          stages.some((s) => s.name === flags.from),
          `line ${ins.line}: stage ${flags.from}`,
        ).toBe(true);
        continue;
      }
      for (const source of sources) {
        expect(existsSync(join(root, source)), `line ${ins.line}: ${source} exists`).toBe(true);
        const files = filesUnder(source.replace(/\/+$/, ""));
        const sent = files.filter((f) => !dockerignored(ignore, f));
        expect(sent.length, `line ${ins.line}: ${source} is in the build context`).toBeGreaterThan(0);
      }
    }
  });

  it("sends and copies every file the build's tsc reads", () => {
    expect(compiled.length).toBeGreaterThan(50);
    expect(compiled).toEqual(
      expect.arrayContaining(["agent/ves/schemas/CommonEventFormat_30.2.1_ONAP.json"]),
    );
    const copiedBeforeBuild: string[] = [];
    for (const ins of (buildStage as Stage).instructions) {
      if (ins.keyword === "RUN" && /\bnpm run build\b/.test(ins.args)) break;
      if (ins.keyword === "COPY" && !copyArgs(ins).flags.from)
        copiedBeforeBuild.push(...copyArgs(ins).sources.map((s) => s.replace(/\/+$/, "")));
    }
    for (const file of [...compiled, "tsconfig.json", "tsconfig.build.json"]) {
      expect(dockerignored(ignore, file), `${file} is in the build context`).toBe(false);
      expect(
        copiedBeforeBuild.some((s) => file === s || file.startsWith(`${s}/`)),
        `${file} is copied before npm run build`,
      ).toBe(true);
    }
  });

  it("starts node on the agent by default, and each bin is built, documented and loaded in the build", () => {
    const last = (k: string) => final.instructions.filter((i) => i.keyword === k).at(-1)?.args;
    expect(JSON.parse(last("ENTRYPOINT") ?? "null")).toEqual(["node"]);
    // The agent's V8 and malloc settings (docs/benchmarks.md, "Where the agent's memory goes"), the same as
    // `npm start`'s.
    expect(JSON.parse(last("CMD") ?? "null")).toEqual([
      "--max-semi-space-size=2",
      "--max-old-space-size=256",
      pkg.bin["vesmon-agent"],
    ]);
    for (const [name, value] of Object.entries(AGENT_RUNTIME.env))
      expect(last("ENV")).toMatch(new RegExp(`\\b${name}=${value}(\\s|$)`));
    expect(JSON.parse(last("CMD") ?? "null")).toEqual([...AGENT_RUNTIME.nodeFlags, pkg.bin["vesmon-agent"]]);
    expect(pkg.scripts.start).toMatch(
      /^MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536 exec node --max-semi-space-size=2 --max-old-space-size=256 agent\/main\.ts /,
    );
    expect(last("WORKDIR")).toBe("/app");
    expect(Object.keys(pkg.bin).sort()).toEqual(["vesmon-agent", "vesmon-listener", "vesmon-operator"]);
    const smoke = final.instructions
      .filter((i) => i.keyword === "RUN" && i.args.startsWith("["))
      .map((i) => JSON.parse(i.args) as string[]);
    for (const [name, script] of Object.entries(pkg.bin)) {
      expect(script).toMatch(/^dist\/.+\.js$/);
      const source = script.replace(/^dist\//, "").replace(/\.js$/, ".ts");
      expect(compiled, `${name}: ${source} is compiled by tsconfig.build.json`).toContain(source);
      expect(dockerfile, `${name} is documented in the Dockerfile`).toContain(name);
      expect(dockerfile).toContain(script);
      expect(smoke, `${name} is loaded once in the final stage`).toContainEqual(["node", script, "--help"]);
    }
  });

  it("copies dist/ and package.json (read by agent/version.ts) into /app", () => {
    expect(rootfsStage.instructions.find((i) => i.keyword === "WORKDIR")?.args).toBe("/rootfs/app");
    const copies = rootfsStage.instructions.filter((i) => i.keyword === "COPY").map(copyArgs);
    expect(copies.some((c) => c.flags.from && c.sources.some((s) => /\/dist\/?$/.test(s)))).toBe(true);
    expect(copies.some((c) => !c.flags.from && c.sources.includes("package.json"))).toBe(true);
  });

  it("labels the image with OCI annotations and the package version", () => {
    const labels = final.instructions
      .filter((i) => i.keyword === "LABEL")
      .map((i) => i.args)
      .join(" ");
    for (const key of ["title", "description", "licenses", "source", "version"])
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    expect(labels).toContain('org.opencontainers.image.licenses="Apache-2.0"');
    const version = final.instructions.find((i) => i.keyword === "ARG" && i.args.startsWith("VERSION="));
    expect(version?.args).toBe(`VERSION=${pkg.version}`);
  });
});

describe(".dockerignore", () => {
  it("leaves out dependencies, git, builds, state and test data", () => {
    for (const path of [
      "node_modules/yaml/package.json",
      "agent/node_modules/x/index.js",
      ".git/HEAD",
      "dist/agent/main.js",
      ".vesmon-state/spool/x",
      "bench/results/latest.json",
      "test/fixtures/proc/stat",
      "agent/agent.test.ts",
      "agent/listener/testdata.ts",
      ".env",
    ])
      expect(dockerignored(ignore, path), path).toBe(true);
  });

  it("lets the sources, manifests and the schemas' notice in", () => {
    for (const path of ["package.json", "package-lock.json", "agent/main.ts", "agent/ves/schemas/NOTICE.md"])
      expect(dockerignored(ignore, path), path).toBe(false);
  });

  it("matches like Docker's patternmatcher", () => {
    expect(dockerignored("*\n!api", "api/v1alpha1/types.ts")).toBe(false);
    expect(dockerignored("*\n!api\n**/*.test.ts", "api/crd.test.ts")).toBe(true);
    expect(dockerignored("**/.git", ".git/config")).toBe(true);
    expect(dockerignored("node_modules", "node_modules/a/b.js")).toBe(true);
    expect(dockerignored("node_modules", "agent/node_modules/a.js")).toBe(false);
  });
});
