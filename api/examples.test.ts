import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { SchemaNode } from "./cel.ts";
import { crdObjects } from "./v1alpha1/crds.ts";
import { METRICS_BY_NAME } from "./v1alpha1/metrics.ts";
import { validateMonitoringProfile, validateNodeMonitor } from "./v1alpha1/validators.ts";
import { createValidator, formatFieldErrors } from "./validate.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = join(root, "examples/profiles");
const yamlIn = (d: string) =>
  readdirSync(d)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
const load = (path: string) => parse(readFileSync(path, "utf8")) as unknown;

/** What a cluster enforces: the CRD schema alone (unknown fields pruned, metadata checked elsewhere) plus its CEL. */
const crdSchema = (kind: string) =>
  (
    crdObjects().find((c) => (c.spec as { names: { kind: string } }).names.kind === kind)!.spec as {
      versions: { schema: { openAPIV3Schema: SchemaNode } }[];
    }
  ).versions[0]!.schema.openAPIV3Schema;
const validateAsCluster = createValidator(crdSchema("MonitoringProfile"));

describe("valid example profiles", () => {
  const files = yamlIn(dir);
  it("include the NFVI, host-only, guest and local profiles", () => {
    expect(files).toEqual(
      expect.arrayContaining(["nfvi.yaml", "host-only.yaml", "guest.yaml", "local.yaml"]),
    );
  });

  it.each(files)("%s validates, in the agent and as the cluster would", (file) => {
    const input = load(join(dir, file));
    const r = validateMonitoringProfile(input);
    if (!r.ok) throw new Error(formatFieldErrors(r.errors));
    const cluster = validateAsCluster(input);
    if (!cluster.ok) throw new Error(formatFieldErrors(cluster.errors));
    expect(cluster.value).toEqual(r.value);
  });

  it.each(files)("%s uses only threshold metrics the collectors emit", (file) => {
    const r = validateMonitoringProfile(load(join(dir, file)));
    const metrics = r.ok ? (r.value.spec.thresholds ?? []).map((t) => t.metric) : [];
    expect(metrics.filter((m) => !METRICS_BY_NAME.has(m))).toEqual([]);
  });

  it("guest.yaml is a legacy guest-mode profile with defaults filled in", () => {
    const r = validateMonitoringProfile(load(join(dir, "guest.yaml")));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.spec.events).toMatchObject({ mode: "guest", vesVersion: "5.4.1" });
    expect(r.value.spec.sinks[0]?.ves?.batch).toEqual({ maxEvents: 1, maxBytes: "1Mi" });
    expect(r.value.spec.sinks[0]?.ves?.retry).toEqual({ initialBackoff: "1s", maxBackoff: "1m" });
  });
});

describe("invalid example profiles", () => {
  const files = yamlIn(join(dir, "invalid"));
  it("cover many mistakes", () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  it.each(files)("%s is refused with the error it declares, naming the field", (file) => {
    const text = readFileSync(join(dir, "invalid", file), "utf8");
    const expected = /^# expect: (.+)$/m.exec(text)?.[1];
    expect(expected, `${file} has no "# expect:" line`).toBeDefined();
    const r = validateMonitoringProfile(parse(text));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors, formatFieldErrors(r.errors)).toHaveLength(1);
    expect(formatFieldErrors(r.errors).startsWith(expected!), formatFieldErrors(r.errors)).toBe(true);
  });

  // A cluster prunes unknown fields, and checks metadata.name and apiVersion outside the CRD schema (a wrong
  // version finds no resource to go to); everything else the CRD refuses just as the agent's validator does.
  const outsideCrd = new Set(["unknown-field.yaml", "bad-name.yaml", "wrong-api-version.yaml"]);
  it.each(files.filter((f) => !outsideCrd.has(f)))("%s is refused by the CRD schema too", (file) => {
    const input = load(join(dir, "invalid", file));
    const agent = validateMonitoringProfile(input);
    const cluster = validateAsCluster(input);
    expect(cluster.ok).toBe(false);
    if (!cluster.ok && !agent.ok) expect(cluster.errors).toEqual(agent.errors);
  });

  it.each([...outsideCrd])("%s passes the CRD schema, which prunes or ignores it", (file) => {
    expect(validateAsCluster(load(join(dir, "invalid", file))).ok).toBe(true);
  });
});

describe("NodeMonitor", () => {
  const fixture = () => load(join(root, "test/fixtures/api/nodemonitor-worker-1.yaml"));

  it("validates a NodeMonitor an older operator wrote (specs embedded) and the agent's status, with profile defaults resolved", () => {
    const r = validateNodeMonitor(fixture());
    if (!r.ok) throw new Error(formatFieldErrors(r.errors));
    const profile = r.value.spec.profiles?.[0];
    expect(profile?.spec?.events.measurementInterval).toBe("60s");
    expect(profile?.spec?.collectors[1]?.libvirt).toEqual({
      socket: "/run/libvirt/libvirt-sock-ro",
      uri: "qemu:///system",
      timeout: "5s",
    });
    expect(r.value.status?.jobs?.map((j) => j.state)).toEqual(["Running", "Failed"]);
  });

  it("must be named after its node", () => {
    const nm = fixture() as unknown as { metadata: { name: string } };
    nm.metadata.name = "worker-2";
    const r = validateNodeMonitor(nm);
    expect(r.ok ? "" : formatFieldErrors(r.errors)).toBe(
      "spec.nodeName: a NodeMonitor is named after its node: metadata.name must equal spec.nodeName",
    );
  });

  it("refuses an unknown job state and a duplicate sink key", () => {
    const nm = fixture() as unknown as { status: { jobs: { state: string }[]; sinks: unknown[] } };
    nm.status.jobs[0]!.state = "Sleeping";
    expect(validateNodeMonitor(nm).ok).toBe(false);
    const dup = fixture() as unknown as { status: { sinks: unknown[] } };
    dup.status.sinks.push(structuredClone(dup.status.sinks[0]));
    const r = validateNodeMonitor(dup);
    expect(r.ok ? "" : formatFieldErrors(r.errors)).toBe(
      'status.sinks[1]: duplicate entry: profile "local", name "console" is already at status.sinks[0]',
    );
  });
});
