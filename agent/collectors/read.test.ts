import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SourceUnavailableError } from "./collector.ts";
import { readSource, readText } from "./read.ts";

describe("readSource", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "vesmon-read-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads files of any size whole, and the same content again from reused buffers", async () => {
    const files: Record<string, string> = {
      empty: "",
      small: "cpu  1 2 3 4\n",
      // Larger than the first buffer, and multi-byte characters across its edge.
      big: `${"x".repeat(64 * 1024 - 1)}é${"ü".repeat(70_000)}\n`,
      huge: "y".repeat(3 * 1024 * 1024),
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    for (let round = 0; round < 3; round++) {
      // At the same time, as collectors read: no read sees another's bytes.
      const read = await Promise.all(Object.keys(files).map((name) => readSource(join(dir, name))));
      expect(read).toEqual(Object.values(files));
    }
  });

  it("turns a missing or unreadable file into a SourceUnavailableError naming the path", async () => {
    const missing = join(dir, "missing");
    await expect(readSource(missing)).rejects.toThrow(SourceUnavailableError);
    await expect(readSource(missing)).rejects.toThrow(`${missing}: ENOENT`);
    await expect(readSource(dir)).rejects.toThrow(`${dir}: EISDIR`);
    // readText passes the error on as readFile would, so a caller can tell a missing file by its code.
    await expect(readText(missing)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
