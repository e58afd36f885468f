import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const ROOT = join(HERE, "..", "..");
/** The chart under test. */
export const CHART_DIR = join(ROOT, "charts", "vesmon");
/** Debian's Go sources (golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev and their deps). */
const GOCODE = "/usr/share/gocode/src";

/** One rendered Kubernetes object, with the template it came from. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary YAML, inspected by tests.
  [key: string]: any;
}

export interface Rendered {
  /** Every object of every template, in template order. */
  manifests: Manifest[];
  /** Which template each manifest came from (same order). */
  sources: string[];
  /** The rendered NOTES.txt. */
  notes: string;
}

export interface RenderOptions {
  releaseName?: string;
  namespace?: string;
  /** Extra `.Capabilities.APIVersions`. */
  apiVersions?: string[];
}

let binary: string | undefined;

/**
 * Builds test/chart/render.go once per source (the binary is cached under the OS temp dir, keyed by the
 * hash of the source and the Go version) and returns its path. The build is offline, in GOPATH mode, over
 * a throwaway GOPATH of symlinks into Debian's /usr/share/gocode: sprig and semver live there without
 * their `/v3` module suffix, so the symlinks add it. Nothing is downloaded and nothing is written into
 * the repository.
 */
export function rendererBinary(): string {
  if (binary) return binary;
  const source = readFileSync(join(HERE, "render.go"));
  const goVersion = execFileSync("go", ["version"], { encoding: "utf8" });
  const key = createHash("sha256").update(source).update(goVersion).digest("hex").slice(0, 16);
  const cacheDir = join(tmpdir(), `vesmon-chart-render-${key}`);
  const bin = join(cacheDir, "render");
  if (!existsSync(bin)) {
    for (const dep of ["github.com/Masterminds/sprig", "gopkg.in/yaml.v3"]) {
      if (!existsSync(join(GOCODE, dep)))
        throw new Error(
          `${GOCODE}/${dep} is missing: install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev (node test/setup/system-packages.ts)`,
        );
    }
    const gopath = mkdtempSync(join(tmpdir(), "vesmon-chart-gopath-"));
    try {
      const src = join(gopath, "src");
      const link = (target: string, path: string): void => {
        mkdirSync(dirname(join(src, path)), { recursive: true });
        symlinkSync(target, join(src, path));
      };
      link(join(GOCODE, "golang.org"), "golang.org");
      link(join(GOCODE, "gopkg.in"), "gopkg.in");
      for (const owner of ["google", "huandu", "imdario", "mitchellh", "shopspring", "spf13"])
        link(join(GOCODE, "github.com", owner), join("github.com", owner));
      link(join(GOCODE, "github.com/Masterminds/goutils"), "github.com/Masterminds/goutils");
      link(join(GOCODE, "github.com/Masterminds/sprig"), "github.com/Masterminds/sprig/v3");
      link(join(GOCODE, "github.com/Masterminds/semver"), "github.com/Masterminds/semver/v3");
      mkdirSync(join(src, "vesmonrender"));
      writeFileSync(join(src, "vesmonrender", "main.go"), source);
      mkdirSync(cacheDir, { recursive: true });
      const out = join(cacheDir, `render.${process.pid}.tmp`);
      execFileSync("go", ["build", "-o", out, "."], {
        cwd: join(src, "vesmonrender"),
        env: {
          ...process.env,
          GO111MODULE: "off",
          GOPATH: gopath,
          GOCACHE: join(tmpdir(), "vesmon-chart-gocache"),
          GOFLAGS: "",
          GOPROXY: "off",
          CGO_ENABLED: "0",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      renameSync(out, bin);
    } finally {
      rmSync(gopath, { recursive: true, force: true });
    }
  }
  binary = bin;
  return bin;
}

/** Thrown when the chart does not render (a template error, `required`, `fail`); `.stderr` has helm-like text. */
export class RenderError extends Error {
  readonly stderr: string;
  constructor(stderr: string) {
    super(stderr.trim());
    this.stderr = stderr;
  }
}

/**
 * Renders the chart with `values` coalesced over values.yaml (helm's rules: maps merge, `null` removes a
 * key, lists replace) and parses every document. Empty documents are dropped.
 */
export function renderChart(values: Record<string, unknown> = {}, opts: RenderOptions = {}): Rendered {
  const bin = rendererBinary();
  const dir = mkdtempSync(join(tmpdir(), "vesmon-chart-values-"));
  try {
    const valuesFile = join(dir, "values.json");
    writeFileSync(valuesFile, JSON.stringify(values));
    const args = [
      "-chart",
      CHART_DIR,
      "-name",
      opts.releaseName ?? "vesmon",
      "-namespace",
      opts.namespace ?? "vesmon-system",
      "-f",
      valuesFile,
    ];
    for (const v of opts.apiVersions ?? []) args.push("-api-versions", v);
    let stdout: string;
    try {
      stdout = execFileSync(bin, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      throw new RenderError(String((err as { stderr?: unknown }).stderr ?? err));
    }
    const files = JSON.parse(stdout) as { source: string; content: string }[];
    const out: Rendered = { manifests: [], sources: [], notes: "" };
    for (const f of files) {
      if (f.source.endsWith("/NOTES.txt")) {
        out.notes = f.content;
        continue;
      }
      for (const doc of parseAllDocuments(f.content)) {
        if (doc.errors.length) throw new Error(`${f.source}: ${doc.errors[0]?.message}\n${f.content}`);
        const obj: unknown = doc.toJS();
        if (obj === null || obj === undefined) continue;
        out.manifests.push(obj as Manifest);
        out.sources.push(f.source);
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
