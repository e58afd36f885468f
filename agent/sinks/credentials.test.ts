import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { VesSink } from "../../api/v1alpha1/types.ts";
import { loadTransportSecurity } from "./credentials.ts";

const base: VesSink = {
  url: "https://ves.test",
  fallbackInterval: "5m",
  timeout: "5s",
  batch: { maxEvents: 100, maxBytes: "1Mi" },
  buffer: { maxBytes: "64Mi", maxAge: "1h" },
  retry: { initialBackoff: "1s", maxBackoff: "1m" },
};

describe("loadTransportSecurity", () => {
  it("reads basic auth, CA and client certificate from <dir>/<secret>/<key>", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vesmon-creds-"));
    for (const [secret, key, value] of [
      ["ves-credentials", "user", "ves\n"],
      ["ves-credentials", "pass", "p@ss word\n"],
      ["ves-ca", "ca.crt", "CA PEM"],
      ["client", "tls.crt", "CERT PEM"],
      ["client", "tls.key", "KEY PEM"],
    ] as const) {
      await mkdir(join(dir, secret), { recursive: true });
      await writeFile(join(dir, secret, key), value);
    }
    const sec = await loadTransportSecurity(
      {
        ...base,
        credentialsSecretRef: { name: "ves-credentials", usernameKey: "user", passwordKey: "pass" },
        tls: {
          insecureSkipVerify: false,
          caSecretRef: { name: "ves-ca", key: "ca.crt" },
          clientCertificateSecretRef: { name: "client", certKey: "tls.crt", keyKey: "tls.key" },
        },
      },
      dir,
    );
    expect(sec.basicAuth).toEqual({ username: "ves", password: "p@ss word" });
    expect([sec.ca?.toString(), sec.cert?.toString(), sec.key?.toString(), sec.insecureSkipVerify]).toEqual([
      "CA PEM",
      "CERT PEM",
      "KEY PEM",
      undefined,
    ]);
  });

  it("also reads the managed Secret's flat layout, <secret>__<key>", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vesmon-creds-"));
    await writeFile(join(dir, "ves-credentials__username"), "ves");
    await writeFile(join(dir, "ves-credentials__password"), "pw");
    const sec = await loadTransportSecurity(
      {
        ...base,
        credentialsSecretRef: { name: "ves-credentials", usernameKey: "username", passwordKey: "password" },
      },
      dir,
    );
    expect(sec.basicAuth).toEqual({ username: "ves", password: "pw" });
  });

  it("names a missing file and never its content", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vesmon-creds-"));
    await mkdir(join(dir, "ves-credentials"));
    await writeFile(join(dir, "ves-credentials", "username"), "secret-user");
    const err = await loadTransportSecurity(
      {
        ...base,
        credentialsSecretRef: { name: "ves-credentials", usernameKey: "username", passwordKey: "password" },
      },
      dir,
    ).catch((e: Error) => e);
    expect((err as Error).message).toBe(
      `credentials file ${join(dir, "ves-credentials", "password")}: ENOENT`,
    );
    expect((err as Error).message).not.toContain("secret-user");
  });

  it("needs nothing when the sink references nothing", async () => {
    expect(await loadTransportSecurity(base, "/nonexistent")).toEqual({});
  });
});
