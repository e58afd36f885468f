import { describe, expect, it } from "vitest";
import { validateMonitoringProfile } from "./v1alpha1/validators.ts";
import { fieldPath, formatFieldErrors, joinField } from "./validate.ts";

const minimal = () => ({
  apiVersion: "vesmon.io/v1alpha1",
  kind: "MonitoringProfile",
  metadata: { name: "p" },
  spec: { collectors: [{ name: "cpu" }], sinks: [{ name: "out", ves: { url: "https://ves.example" } }] },
});

describe("field paths", () => {
  it("renders pointers the way the API server names fields", () => {
    expect(fieldPath("/spec/sinks/0/ves/url")).toBe("spec.sinks[0].ves.url");
    expect(fieldPath("/spec/nodeSelector/matchLabels/node-role.kubernetes.io~1compute")).toBe(
      'spec.nodeSelector.matchLabels["node-role.kubernetes.io/compute"]',
    );
    expect(fieldPath("", "metadata")).toBe("metadata");
    expect(joinField("spec.collectors", 3)).toBe("spec.collectors[3]");
  });
});

describe("validateMonitoringProfile", () => {
  it("applies every default, including those inside defaulted objects", () => {
    const r = validateMonitoringProfile(minimal());
    if (!r.ok) throw new Error(formatFieldErrors(r.errors));
    const { spec } = r.value;
    expect(spec.collectors[0]?.interval).toBe("10s");
    expect(spec.events).toEqual({
      measurementInterval: "60s",
      heartbeatInterval: "60s",
      vesVersion: "7.2.1",
      mode: "host",
      naming: { eventNamePublisher: "Vesmon" },
    });
    expect(spec.faults).toEqual({ vmLifecycle: true, collectorFailures: true });
    expect(spec.applyPolicy).toBe("BestEffort");
    expect(spec.sinks[0]?.ves).toEqual({
      url: "https://ves.example",
      fallbackInterval: "5m",
      timeout: "5s",
      batch: { maxEvents: 100, maxBytes: "1Mi" },
      buffer: { maxBytes: "64Mi", maxAge: "1h" },
      retry: { initialBackoff: "1s", maxBackoff: "1m" },
    });
  });

  it("leaves the caller's object untouched", () => {
    const input = minimal();
    const before = JSON.stringify(input);
    validateMonitoringProfile(input);
    expect(JSON.stringify(input)).toBe(before);
  });

  it("keeps values that are given instead of defaulting them", () => {
    const input = minimal();
    input.spec.collectors[0] = { name: "cpu", interval: "30s" } as never;
    const r = validateMonitoringProfile(input);
    expect(r.ok && r.value.spec.collectors[0]?.interval).toBe("30s");
  });

  it.each([null, 42, "profile", [], {}])("refuses %j with errors, never throwing", (input) => {
    const r = validateMonitoringProfile(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.length).toBeGreaterThan(0);
  });

  it("reports every schema error at once", () => {
    const input = minimal() as Record<string, unknown> & ReturnType<typeof minimal>;
    (input.spec as Record<string, unknown>).applyPolicy = "Sometimes";
    (input.spec.collectors[0] as Record<string, unknown>).interval = "soon";
    const r = validateMonitoringProfile(input);
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.errors.map((e) => e.field).sort()).toEqual([
        "spec.applyPolicy",
        "spec.collectors[0].interval",
      ]);
  });

  it("accepts quantities as integers as well as strings", () => {
    const input = minimal();
    (input.spec.sinks[0]?.ves as Record<string, unknown>).buffer = { maxBytes: 8 * 1024 * 1024 };
    expect(validateMonitoringProfile(input).ok).toBe(true);
    (input.spec.sinks[0]?.ves as Record<string, unknown>).buffer = { maxBytes: 1024 };
    const r = validateMonitoringProfile(input);
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(formatFieldErrors(r.errors)).toContain(
        "spec.sinks[0].ves.buffer.maxBytes: must be between 256Ki",
      );
  });
});
