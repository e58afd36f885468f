import { describe, expect, it } from "vitest";
import type { MonitoringProfile, SinkSpec, ThresholdSpec } from "../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import { checkProfile, closeMetricNames } from "./validate-profile.ts";

function profile(sinks: unknown[], thresholds?: unknown[]): MonitoringProfile {
  const checked = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name: "nfvi", generation: 1 },
    spec: {
      collectors: [
        { name: "cpu", interval: "10s" },
        { name: "virt", interval: "10s" },
      ],
      events: { naming: { eventNamePublisher: "Vesmon-Test" } },
      sinks,
      ...(thresholds ? { thresholds } : {}),
    },
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.value;
}

const secrets: Record<string, string[]> = {
  "ves-credentials": ["username", "password"],
  "ves-ca": ["ca.crt"],
  "client-tls": ["tls.crt", "tls.key"],
};
const ctx = {
  secretExists: (name: string) => name in secrets,
  secretKeys: (name: string) => secrets[name],
};

const vesSink = (ves: Record<string, unknown>, name = "ves"): SinkSpec =>
  ({ name, ves: { url: "https://ves.example:8443", ...ves } }) as unknown as SinkSpec;

describe("checkProfile", () => {
  it("accepts a profile whose Secrets, keys and metrics all exist", () => {
    const p = profile(
      [
        vesSink({
          credentialsSecretRef: { name: "ves-credentials" },
          tls: { caSecretRef: { name: "ves-ca" }, clientCertificateSecretRef: { name: "client-tls" } },
        }),
        { name: "scrape", prometheus: {} },
      ],
      [{ metric: "vm.cpu.percent", warningMax: 80 } satisfies Partial<ThresholdSpec>],
    );
    expect(checkProfile(p, ctx)).toEqual({ ok: true, warnings: [] });
  });

  it("accepts a profile without Secrets or thresholds", () => {
    expect(
      checkProfile(profile([{ name: "scrape", prometheus: {} }]), { secretExists: () => false }),
    ).toEqual({
      ok: true,
      warnings: [],
    });
  });

  it("refuses a missing credentials Secret, naming the field", () => {
    const r = checkProfile(profile([vesSink({ credentialsSecretRef: { name: "nope" } })]), ctx);
    expect(r).toMatchObject({
      ok: false,
      reason: "SecretMissing",
      message: `spec.sinks[0].ves.credentialsSecretRef.name: Secret "nope" not found in the operator's namespace`,
    });
  });

  it("refuses missing TLS Secrets", () => {
    const r = checkProfile(
      profile([
        { name: "scrape", prometheus: {} },
        vesSink({ tls: { caSecretRef: { name: "ca-x" }, clientCertificateSecretRef: { name: "cert-x" } } }),
      ]),
      ctx,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe("SecretMissing");
    expect(r.message).toContain('spec.sinks[1].ves.tls.caSecretRef.name: Secret "ca-x"');
    expect(r.message).toContain('spec.sinks[1].ves.tls.clientCertificateSecretRef.name: Secret "cert-x"');
  });

  it("refuses a Secret without the referenced key when keys are known", () => {
    const r = checkProfile(
      profile([
        vesSink({
          credentialsSecretRef: { name: "ves-credentials", passwordKey: "secret" },
          tls: { clientCertificateSecretRef: { name: "client-tls", keyKey: "key.pem" } },
        }),
      ]),
      ctx,
    );
    expect(r).toMatchObject({
      ok: false,
      reason: "SecretKeyMissing",
      message:
        'spec.sinks[0].ves.credentialsSecretRef.passwordKey: Secret "ves-credentials" has no key "secret"; ' +
        'spec.sinks[0].ves.tls.clientCertificateSecretRef.keyKey: Secret "client-tls" has no key "key.pem"',
    });
  });

  it("does not check keys it does not know", () => {
    const p = profile([
      vesSink({ credentialsSecretRef: { name: "ves-credentials", passwordKey: "secret" } }),
    ]);
    expect(checkProfile(p, { secretExists: ctx.secretExists }).ok).toBe(true);
    expect(checkProfile(p, { secretExists: ctx.secretExists, secretKeys: () => undefined }).ok).toBe(true);
  });

  it("refuses a reference too long to flatten into the managed Secret", () => {
    const long = `${"k".repeat(240)}.example`;
    const p = profile([vesSink({ credentialsSecretRef: { name: long } })]);
    const r = checkProfile(p, { secretExists: () => true });
    expect(r).toMatchObject({ ok: false, reason: "CredentialsKeyTooLong" });
  });

  it("refuses unknown threshold metrics, naming the field and close names", () => {
    const r = checkProfile(
      profile(
        [{ name: "scrape", prometheus: {} }],
        [
          { metric: "vm.cpu.percent", warningMax: 80 },
          { metric: "vm.cpu.percnt", warningMax: 80 },
        ],
      ),
      ctx,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe("UnknownMetric");
    expect(r.message).toMatch(
      /^spec\.thresholds\[1\]\.metric: unknown metric "vm\.cpu\.percnt" \(close names: [^)]*vm\.cpu\.percent[^)]*\)$/,
    );
    expect(r.message).toContain("vm.cpu.percent");
  });

  it("gives the first problem's reason and lists the others", () => {
    const r = checkProfile(
      profile(
        [vesSink({ credentialsSecretRef: { name: "nope" } })],
        [{ metric: "vm.cpu.nope", warningMax: 1 }],
      ),
      ctx,
    );
    expect(r).toMatchObject({ ok: false, reason: "UnknownMetric" });
    if (!r.ok) expect(r.message).toContain("spec.sinks[0].ves.credentialsSecretRef.name");
  });

  it("bounds the message", () => {
    const thresholds = Array.from({ length: 14 }, (_, i) => ({ metric: `vm.nope${i}`, warningMax: 1 }));
    const r = checkProfile(profile([{ name: "scrape", prometheus: {} }], thresholds), ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message.split("; ").length).toBe(11);
      expect(r.message).toMatch(/…and 4 more$/);
    }
  });

  it("warns about basic auth over http:// and disabled verification, and still accepts", () => {
    const r = checkProfile(
      profile([
        vesSink({
          url: "http://ves.example:8080",
          backupUrl: "https://ves-b.example:8443",
          credentialsSecretRef: { name: "ves-credentials" },
        }),
        vesSink({ tls: { insecureSkipVerify: true } }, "lab"),
      ]),
      ctx,
    );
    expect(r).toEqual({
      ok: true,
      warnings: [
        "spec.sinks[0].ves.url: basic-auth credentials are sent in clear text over http://",
        "spec.sinks[1].ves.tls.insecureSkipVerify: the collector's certificate is not verified",
      ],
    });
  });

  it("does not warn about http:// without credentials", () => {
    const r = checkProfile(profile([vesSink({ url: "http://ves.example:8080" })]), ctx);
    expect(r).toEqual({ ok: true, warnings: [] });
  });
});

describe("closeMetricNames", () => {
  it("ranks by edit distance", () => {
    expect(closeMetricNames("host.load.shorterm", 1)).toEqual(["host.load.shortterm"]);
    expect(closeMetricNames("vm.memory.used.pct")).toHaveLength(3);
  });
});
