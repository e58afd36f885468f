import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureTestImage, podman } from "../test/helpers/image.ts";
import type { RunContext } from "./sections.ts";

/** What the image benchmark measured: the image's size and what takes it up. */
export interface ImageResult {
  image: string;
  podmanVersion: string;
  /** Bytes, as podman counts them. */
  sizeBytes: number;
  layers: number;
  /** Bytes on disk of parts of the image's file system (du -sb). */
  parts: { path: string; bytes: number }[];
}

/** Parts of the file system, by path; those missing on an architecture (lib64) are left out. */
const PARTS = [
  "usr/local/bin/node",
  "lib",
  "lib64",
  "app/node_modules",
  "app/node_modules/@kubernetes",
  "app/dist",
];

/**
 * Builds the Dockerfile as `npm test` does (podman, cached base images) and measures the image: its size
 * and the bytes of node, its libraries, the production dependencies and the compiled programs.
 */
export async function measureImage(): Promise<ImageResult> {
  const image = ensureTestImage();
  const info = (
    JSON.parse(podman(["image", "inspect", image])) as { Size: number; RootFS: { Layers: string[] } }[]
  )[0];
  if (!info) throw new Error(`no image ${image}`);
  const mounted = podman(["image", "mount", image]).trim();
  try {
    const parts = PARTS.filter((path) => existsSync(join(mounted, path))).map((path) => ({
      path,
      bytes: Number(execFileSync("du", ["-sb", join(mounted, path)], { encoding: "utf8" }).split("\t")[0]),
    }));
    return {
      image,
      podmanVersion: podman(["version", "--format", "{{.Client.Version}}"]).trim(),
      sizeBytes: info.Size,
      layers: info.RootFS.Layers.length,
      parts,
    };
  } finally {
    podman(["image", "unmount", image]);
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** The image section of docs/benchmarks.md. */
export function imageMarkdown(r: ImageResult, ctx: RunContext, file: string): string {
  const rows = r.parts
    .map((p) => `| ${p.path.includes("/@") ? "of which " : ""}\`/${p.path}\` | ${mb(p.bytes)} |`)
    .join("\n");
  return `## Image

The image the Dockerfile builds (\`${r.image}\`, built by podman ${r.podmanVersion} as \`npm test\` builds it:
\`test/helpers/image.ts\`), measured ${ctx.date.slice(0, 10)}. Raw figures: \`bench/results/${file}\`.

**Size: ${mb(r.sizeBytes)} MB** (${r.layers} layers; budget 250 MB, asserted by \`test/image.test.ts\`). The final stage
is \`FROM scratch\`: node, the libraries it links, \`/etc/passwd\` and \`/app\`; no shell, no npm. The same programs
on \`node:24-bookworm-slim\` with npm removed made a 424 MB image.

| Part | MB |
|---|---|
${rows}

\`/app/node_modules\` holds the production dependencies without type declarations, TypeScript sources, source maps
and docs; \`@kubernetes/client-node\` is the largest of them (its generated API models are loaded whole).
`;
}
