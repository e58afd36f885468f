import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { compileRule, type SchemaNode, toCel } from "../cel.ts";
import { DURATION_PATTERN, formatDuration, parseDuration } from "../duration.ts";
import { generatedFiles } from "../gen/files.ts";
import { parseQuantity } from "../quantity.ts";
import { createAjv } from "../validate.ts";
import { COLLECTOR_NAMES, COLLECTOR_SETTINGS } from "./collectors.ts";
import { crdObjects } from "./crds.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const crds = crdObjects();
const schemaOf = (crd: Record<string, unknown>) =>
  (crd.spec as { versions: { schema: { openAPIV3Schema: SchemaNode } }[] }).versions[0]!.schema
    .openAPIV3Schema;

interface Visit {
  node: SchemaNode;
  path: string;
}

function visitAll(node: SchemaNode, path: string, out: Visit[] = []): Visit[] {
  out.push({ node, path });
  for (const [k, child] of Object.entries(node.properties ?? {})) visitAll(child, `${path}.${k}`, out);
  if (node.items) visitAll(node.items, `${path}[]`, out);
  if (typeof node.additionalProperties === "object") visitAll(node.additionalProperties, `${path}{}`, out);
  for (const [i, child] of (node.anyOf ?? []).entries()) visitAll(child, `${path}.anyOf[${i}]`, out);
  return out;
}

const nodes = crds.flatMap((crd) =>
  visitAll(schemaOf(crd), (crd.spec as { names: { kind: string } }).names.kind),
);
const isJunctorBranch = (path: string) => /\.anyOf\[\d+\]$/.test(path);

describe("generated files", () => {
  it("are up to date with api/v1alpha1 (run `npm run gen:crds`)", async () => {
    for (const [path, text] of await generatedFiles()) {
      expect(await readFile(join(root, path), "utf8"), `${path} is stale`).toBe(text);
    }
  });

  it("are valid CustomResourceDefinitions by the Kubernetes schema", async () => {
    for (const [path, text] of await generatedFiles()) {
      if (!path.startsWith("crds/")) continue;
      expect(() => new CustomResourceDefinition(parse(text)).validate(), path).not.toThrow();
    }
  });
});

describe("CRD schemas are structural", () => {
  it("type every node (int-or-string nodes use the one allowed anyOf form)", () => {
    for (const { node, path } of nodes) {
      if (node["x-kubernetes-int-or-string"]) {
        expect(node.type, path).toBeUndefined();
        expect(node.anyOf, path).toEqual([{ type: "integer" }, { type: "string" }]);
      } else if (isJunctorBranch(path)) {
        expect(Object.keys(node), path).toEqual(["type"]);
      } else {
        expect(node.anyOf, `${path} uses anyOf`).toBeUndefined();
        expect(typeof node.type, `${path} has no type`).toBe("string");
      }
      for (const k of ["allOf", "oneOf", "not", "const", "title", "$ref", "patternProperties"])
        expect(node[k], `${path} has ${k}`).toBeUndefined();
    }
  });

  it("never mix properties with additionalProperties, and give arrays items", () => {
    for (const { node, path } of nodes) {
      if (node.properties) expect(node.additionalProperties, path).toBeUndefined();
      if (node.additionalProperties !== undefined)
        expect(typeof node.additionalProperties, path).toBe("object");
      if (node.type === "array") expect(node.items, path).toBeDefined();
    }
  });

  it("leave root metadata as a bare object and require only spec", () => {
    for (const crd of crds) {
      const s = schemaOf(crd);
      expect(s.properties?.metadata).toEqual({ type: "object" });
      expect(s.required).toEqual(["spec"]);
    }
  });

  it("bound every list, map and free string so CEL cost can be estimated", () => {
    for (const { node, path } of nodes) {
      if (isJunctorBranch(path)) continue;
      if (node.type === "array") expect(node.maxItems, `${path} needs maxItems`).toBeTypeOf("number");
      if (node.type === "object" && node.additionalProperties)
        expect(node.maxProperties, `${path} needs maxProperties`).toBeTypeOf("number");
      if (node.type === "string" && !node.enum && !path.endsWith(".apiVersion") && !path.endsWith(".kind"))
        expect(node.maxLength, `${path} needs maxLength`).toBeTypeOf("number");
    }
  });

  it("key list-maps by required or defaulted scalar fields", () => {
    for (const { node, path } of nodes) {
      const type = node["x-kubernetes-list-type"];
      if (type === "map") {
        const item = node.items as SchemaNode;
        for (const key of node["x-kubernetes-list-map-keys"] as string[]) {
          const keySchema = item.properties?.[key];
          expect(keySchema, `${path} key ${key}`).toBeDefined();
          expect(["string", "integer", "boolean"]).toContain(keySchema?.type);
          expect(item.required?.includes(key) || keySchema?.default !== undefined, `${path} key ${key}`).toBe(
            true,
          );
        }
      } else if (type === "set") {
        expect(["string", "integer", "boolean"], path).toContain(node.items?.type);
      } else if (node["x-kubernetes-list-map-keys"]) {
        throw new Error(`${path} has list-map keys without list-type map`);
      }
    }
  });

  it("carry defaults that validate against their own node", () => {
    const ajv = createAjv();
    let count = 0;
    for (const { node, path } of nodes) {
      if (node.default === undefined) continue;
      count++;
      const { default: value, ...schema } = node;
      expect(ajv.validate(schema, value), `${path} default ${JSON.stringify(value)}`).toBe(true);
    }
    expect(count).toBeGreaterThan(20);
  });
});

interface RuleAt {
  rule: string;
  message: string;
  node: SchemaNode;
  path: string;
}

const rules: RuleAt[] = nodes.flatMap(({ node, path }) =>
  ((node["x-kubernetes-validations"] as { rule: string; message: string }[] | undefined) ?? []).map((r) => ({
    ...r,
    node,
    path,
  })),
);

/** Good and bad `self` values for each rule that is not a generated bound. */
const cases: Record<string, { good: unknown[]; bad: unknown[] }> = {
  "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist": {
    good: [
      { key: "a", operator: "In", values: ["x"] },
      { key: "a", operator: "Exists" },
      { key: "a", operator: "DoesNotExist", values: [] },
    ],
    bad: [
      { key: "a", operator: "NotIn" },
      { key: "a", operator: "In", values: [] },
      { key: "a", operator: "Exists", values: ["x"] },
    ],
  },
  "caSecretRef has no effect when insecureSkipVerify is true; set one or the other": {
    good: [{ insecureSkipVerify: true }, { insecureSkipVerify: false, caSecretRef: { name: "ca" } }, {}],
    bad: [{ insecureSkipVerify: true, caSecretRef: { name: "ca" } }],
  },
  "initialBackoff must not exceed maxBackoff": {
    good: [
      { initialBackoff: "1s", maxBackoff: "1s" },
      { initialBackoff: "500ms", maxBackoff: "1m" },
    ],
    bad: [{ initialBackoff: "2s", maxBackoff: "1500ms" }],
  },
  "backupUrl must differ from url": {
    good: [{ url: "https://a" }, { url: "https://a", backupUrl: "https://b" }],
    bad: [{ url: "https://a", backupUrl: "https://a" }],
  },
  "tls settings need https:// URLs": {
    good: [
      { url: "https://a", tls: {} },
      { url: "http://a" },
      { url: "https://a", backupUrl: "https://b", tls: {} },
    ],
    bad: [
      { url: "http://a", tls: {} },
      { url: "https://a", backupUrl: "http://b", tls: {} },
    ],
  },
  "buffer.maxBytes must be at least batch.maxBytes": {
    good: [
      { batch: { maxBytes: "1Mi" }, buffer: { maxBytes: 1048576 } },
      { batch: { maxBytes: 4096 }, buffer: { maxBytes: "64Mi" } },
    ],
    bad: [
      { batch: { maxBytes: 1048576 }, buffer: { maxBytes: "512Ki" } },
      { batch: { maxBytes: "1Mi" }, buffer: { maxBytes: 1048575 } },
    ],
  },
  "a sink must set exactly one of ves, prometheus, stdout": {
    good: [
      { name: "a", stdout: {} },
      { name: "a", prometheus: {} },
      { name: "a", ves: { url: "https://a" } },
    ],
    bad: [
      { name: "a" },
      { name: "a", stdout: {}, prometheus: {} },
      { name: "a", ves: { url: "x" }, stdout: {} },
    ],
  },
  "set at least one of warningMin, warningMax, failureMin, failureMax": {
    good: [
      { metric: "vm.x", failureMin: 1 },
      { metric: "vm.x", warningMax: 1 },
    ],
    bad: [{ metric: "vm.x" }, { metric: "vm.x", hysteresis: 1, persist: 2 }],
  },
  "warningMax must be less than failureMax": {
    good: [{ warningMax: 80, failureMax: 95 }, { warningMax: 80 }, { failureMax: 1 }],
    bad: [
      { warningMax: 95, failureMax: 80 },
      { warningMax: 80, failureMax: 80 },
    ],
  },
  "warningMin must be greater than failureMin": {
    good: [{ warningMin: 10, failureMin: 3 }, { warningMin: 10 }],
    bad: [
      { warningMin: 3, failureMin: 10 },
      { warningMin: 3, failureMin: 3 },
    ],
  },
  "warningMin must be less than warningMax": {
    good: [{ warningMin: 10, warningMax: 80.5 }, { warningMin: 10 }],
    bad: [{ warningMin: 80, warningMax: 10 }],
  },
  "failureMin must be less than failureMax": {
    good: [{ failureMin: 0.5, failureMax: 99 }, { failureMax: 1 }],
    bad: [{ failureMin: 5, failureMax: 5 }],
  },
  "every collector interval must be at most events.measurementInterval": {
    good: [
      { collectors: [{ interval: "10s" }, { interval: "60s" }], events: { measurementInterval: "60s" } },
      { collectors: [], events: { measurementInterval: "5s" } },
    ],
    bad: [
      { collectors: [{ interval: "10s" }, { interval: "1m1s" }], events: { measurementInterval: "60s" } },
    ],
  },
  "a VES sink's timeout must be shorter than events.heartbeatInterval": {
    good: [
      { sinks: [{ stdout: {} }, { ves: { timeout: "5s" } }], events: { heartbeatInterval: "60s" } },
      { sinks: [{ stdout: {} }], events: { heartbeatInterval: "5s" } },
    ],
    bad: [{ sinks: [{ ves: { timeout: "5s" } }], events: { heartbeatInterval: "5s" } }],
  },
  "at most one prometheus sink and one stdout sink per profile": {
    good: [{ sinks: [{ prometheus: {} }, { stdout: {} }, { ves: {} }, { ves: {} }] }],
    bad: [{ sinks: [{ prometheus: {} }, { prometheus: {} }] }, { sinks: [{ stdout: {} }, { stdout: {} }] }],
  },
  "each threshold's metric needs the collector that produces it (vm.* needs virt, cgroup.* needs cgroups, host.<name>.* needs <name>)":
    {
      good: [
        { collectors: [{ name: "cpu" }] },
        {
          collectors: [{ name: "virt" }, { name: "cgroups" }, { name: "memory" }],
          thresholds: [
            { metric: "vm.cpu.percent" },
            { metric: "cgroup.memory.usage" },
            { metric: "host.memory.free" },
          ],
        },
      ],
      bad: [
        { collectors: [{ name: "cpu" }], thresholds: [{ metric: "vm.cpu.percent" }] },
        { collectors: [{ name: "virt" }], thresholds: [{ metric: "cgroup.cpu.usage" }] },
        { collectors: [{ name: "cpu" }], thresholds: [{ metric: "host.memory.free" }] },
        { collectors: [{ name: "memory" }], thresholds: [{ metric: "host.cpu.percent" }] },
      ],
    },
  "a NodeMonitor is named after its node: metadata.name must equal spec.nodeName": {
    good: [{ metadata: { name: "n1" }, spec: { nodeName: "n1" } }],
    bad: [{ metadata: { name: "n1" }, spec: { nodeName: "n2" } }],
  },
};

const sampleSetting: Record<string, unknown> = {
  perCpu: true,
  devices: {},
  paths: ["machine.slice"],
  discoverVMs: false,
  libvirt: {},
  domains: { include: ["*"] },
  stats: ["state"],
  cpuSource: "cgroup",
  nicSource: "tap",
  slowGroupsInterval: "30s",
};
for (const [field, owners] of Object.entries(COLLECTOR_SETTINGS)) {
  const message = `${field} applies only to the ${owners.join(" and ")} collector${owners.length > 1 ? "s" : ""}`;
  cases[message] = {
    good: [...owners.map((name) => ({ name, [field]: sampleSetting[field] })), { name: "load" }],
    bad: COLLECTOR_NAMES.filter((n) => !owners.includes(n)).map((name) => ({
      name,
      [field]: sampleSetting[field],
    })),
  };
}

/** Bounds rules generated by Duration() and ByteSize(): values at, inside and just outside the bounds. */
function boundCases(r: RuleAt): { good: unknown[]; bad: unknown[] } | undefined {
  const m = /^must be between (\S+) and (\S+)$/.exec(r.message);
  if (!m) return undefined;
  const [, min, max] = m as unknown as [string, string, string];
  if (r.node.pattern === DURATION_PATTERN) {
    const lo = parseDuration(min);
    const hi = parseDuration(max);
    return {
      good: [min, max, formatDuration(Math.round((lo + hi) / 2))],
      bad: [formatDuration(lo - 1), formatDuration(hi + 1), "0s"],
    };
  }
  if (r.node["x-kubernetes-int-or-string"]) {
    const lo = parseQuantity(min);
    const hi = parseQuantity(max);
    return { good: [min, max, lo, hi, String(hi)], bad: [lo - 1, hi + 1, String(lo - 1), `${hi + 1}`, 0] };
  }
  return undefined;
}

describe("CEL rules", () => {
  it("exist in both CRDs", () => {
    expect(rules.length).toBeGreaterThan(40);
  });

  it.each(rules.map((r) => [r.path, r.rule] as const))("%s: %s parses", (_path, rule) => {
    expect(() => compileRule(rule)).not.toThrow();
  });

  it("use only standard CEL plus quantity(x).asInteger()", () => {
    for (const r of rules) {
      const q = r.rule.match(/quantity\(/g)?.length ?? 0;
      const asInt = r.rule.match(/quantity\([^()]*\)\.asInteger\(\)/g)?.length ?? 0;
      expect(q, r.rule).toBe(asInt);
    }
  });

  it("reject a rule that is not CEL", () => {
    expect(() => compileRule("self.foo >>> 1")).toThrow();
  });

  it.each(rules.map((r) => [r.path, r.message, r] as const))(
    "%s: %s passes good and fails bad values",
    (_p, _m, r) => {
      const table = boundCases(r) ?? cases[r.message];
      expect(table, `no test cases for rule "${r.message}"`).toBeDefined();
      const run = compileRule(r.rule);
      for (const good of table!.good)
        expect(run(toCel(good, r.node)), `good: ${JSON.stringify(good)}`).toEqual({ ok: true });
      for (const bad of table!.bad)
        expect(run(toCel(bad, r.node)), `bad: ${JSON.stringify(bad)}`).toEqual({ ok: false });
    },
  );
});
