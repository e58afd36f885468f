import { describe, expect, it } from "vitest";
import type { MonitoringProfile } from "../api/v1alpha1/types.ts";
import {
  CREDENTIALS_HASH_ANNOTATION,
  credentialsKey,
  referencedSecrets,
  renderCredentialsSecret,
  type SecretSource,
} from "./credentials.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function withSinks(sinks: unknown[]): MonitoringProfile {
  return { spec: { sinks } } as unknown as MonitoringProfile;
}

describe("referencedSecrets", () => {
  it("collects basic-auth, CA and client-certificate Secrets across profiles", () => {
    const profiles = [
      withSinks([
        { name: "a", ves: { url: "https://a", credentialsSecretRef: { name: "ves-credentials" } } },
        { name: "p", prometheus: {} },
      ]),
      withSinks([
        {
          name: "b",
          ves: {
            url: "https://b",
            credentialsSecretRef: { name: "ves-credentials" },
            tls: { caSecretRef: { name: "ves-ca" }, clientCertificateSecretRef: { name: "client-tls" } },
          },
        },
      ]),
      withSinks([{ name: "c", ves: { url: "https://c", tls: { insecureSkipVerify: true } } }]),
    ];
    expect([...referencedSecrets(profiles)].sort()).toEqual(["client-tls", "ves-ca", "ves-credentials"]);
    expect(referencedSecrets([]).size).toBe(0);
  });
});

describe("renderCredentialsSecret", () => {
  const sources = new Map<string, SecretSource>([
    ["ves-credentials", { data: { username: b64("vesmon"), password: b64("s3cret") } }],
    ["ves-ca", { data: { "ca.crt": b64("-----BEGIN CERTIFICATE-----") } }],
    ["unused", { data: { token: b64("x") } }],
  ]);

  it("flattens referenced Secrets into <secret>__<key> keys and labels the Secret", () => {
    const s = renderCredentialsSecret(
      "vesmon-system",
      "vesmon-credentials",
      sources,
      new Set(["ves-credentials", "ves-ca"]),
    );
    expect(s).toMatchObject({
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: "vesmon-credentials",
        namespace: "vesmon-system",
        labels: { "app.kubernetes.io/managed-by": "vesmon-operator" },
      },
    });
    expect(s.data).toEqual({
      "ves-ca__ca.crt": b64("-----BEGIN CERTIFICATE-----"),
      "ves-credentials__password": b64("s3cret"),
      "ves-credentials__username": b64("vesmon"),
    });
    expect(Object.keys(s.data)).toEqual(Object.keys(s.data).sort());
    expect(s.metadata.annotations[CREDENTIALS_HASH_ANNOTATION]).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("leaves out Secrets no longer referenced and referenced Secrets that do not exist", () => {
    const s = renderCredentialsSecret("ns", "creds", sources, new Set(["ves-ca", "missing"]));
    expect(Object.keys(s.data)).toEqual(["ves-ca__ca.crt"]);
  });

  it("renders an empty Secret when nothing is referenced", () => {
    const s = renderCredentialsSecret("ns", "creds", sources, new Set());
    expect(s.data).toEqual({});
    expect(s.metadata.annotations[CREDENTIALS_HASH_ANNOTATION]).toMatch(/^sha256:/);
  });

  it("hashes the content: stable under order, changed by any value or key", () => {
    const hash = (src: Map<string, SecretSource>, refs: string[]) =>
      renderCredentialsSecret("ns", "creds", src, new Set(refs)).metadata.annotations[
        CREDENTIALS_HASH_ANNOTATION
      ];
    const base = hash(sources, ["ves-credentials", "ves-ca"]);
    expect(hash(sources, ["ves-ca", "ves-credentials"])).toBe(base);
    const reordered = new Map([...sources].reverse());
    reordered.set("ves-credentials", { data: { password: b64("s3cret"), username: b64("vesmon") } });
    expect(hash(reordered, ["ves-credentials", "ves-ca"])).toBe(base);
    const changed = new Map(sources);
    changed.set("ves-credentials", { data: { username: b64("vesmon"), password: b64("rotated") } });
    expect(hash(changed, ["ves-credentials", "ves-ca"])).not.toBe(base);
    expect(hash(sources, ["ves-credentials"])).not.toBe(base);
  });

  it("never collides: Secret names cannot hold the separator", () => {
    // With "--" these two would both be "a--b--c".
    expect(credentialsKey("a--b", "c")).not.toBe(credentialsKey("a", "b--c"));
    const s = renderCredentialsSecret(
      "ns",
      "creds",
      new Map<string, SecretSource>([
        ["a--b", { data: { c: b64("1") } }],
        ["a", { data: { "b--c": b64("2") } }],
      ]),
      new Set(["a--b", "a"]),
    );
    expect(Object.keys(s.data)).toHaveLength(2);
  });

  it("skips keys too long for a Secret", () => {
    const name = "s".repeat(250);
    const s = renderCredentialsSecret(
      "ns",
      "creds",
      new Map([[name, { data: { password: b64("x"), k: b64("y") } }]]),
      new Set([name]),
    );
    expect(Object.keys(s.data)).toEqual([`${name}__k`]);
  });
});
