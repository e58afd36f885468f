import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generatedFiles } from "./files.ts";

// Writes every generated file; `npm run gen:crds`. A test renders the same set and compares with the tree.
const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
for (const [path, text] of await generatedFiles()) {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
  process.stdout.write(`wrote ${path}\n`);
}
