import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { prepareStateDir } from "./state-dir.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const temp = async () => {
  const d = await mkdtemp(join(tmpdir(), "vesmon-statedir-"));
  dirs.push(d);
  return d;
};

describe("prepareStateDir", () => {
  it("creates a missing directory, parents included", async () => {
    const path = join(await temp(), "a/b/state");
    expect(await prepareStateDir(path)).toEqual({ ok: true, path });
    expect((await stat(path)).isDirectory()).toBe(true);
  });

  it("refuses a path on proc or sysfs before trying to create it", async () => {
    expect(await prepareStateDir("/proc/vesmon/state")).toEqual({
      ok: false,
      error:
        "state dir /proc/vesmon/state: /proc is on a proc filesystem; pick a directory on disk (--state-dir)",
    });
    expect(await prepareStateDir("/sys/kernel/vesmon")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/\/sys\/kernel is on a sysfs filesystem/),
    });
  });

  it("refuses a path below a file", async () => {
    const file = join(await temp(), "file");
    await writeFile(file, "x");
    expect(await prepareStateDir(join(file, "state"))).toEqual({
      ok: false,
      error: `state dir ${join(file, "state")}: ${file} is not a directory`,
    });
  });

  it("names the ancestor that is not writable, and what mkdir said", async () => {
    const denied = Object.assign(new Error("denied"), { code: "EACCES" });
    const fs = {
      stat: async (p: string) => {
        if (p === "/srv") return { isDirectory: () => true };
        throw Object.assign(new Error("missing"), { code: "ENOENT" });
      },
      statfs: async () => ({ type: 0xef53 }),
      access: async () => {
        throw denied;
      },
      mkdir: async () => undefined,
    };
    expect(await prepareStateDir("/srv/vesmon", fs)).toEqual({
      ok: false,
      error: "state dir /srv/vesmon: /srv is not writable (EACCES)",
    });
    const readOnly = Object.assign(new Error("ro"), { code: "EROFS" });
    expect(
      await prepareStateDir("/srv/vesmon", {
        ...fs,
        access: async () => {},
        mkdir: async () => {
          throw readOnly;
        },
      }),
    ).toEqual({ ok: false, error: "state dir /srv/vesmon: cannot create it (EROFS)" });
  });
});
