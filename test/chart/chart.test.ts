// The Helm chart charts/vesmon, rendered without helm (test/chart/render.go, built from Debian's Go
// packages) and checked: every manifest against the Kubernetes schemas (kubernetes-models), the example
// MonitoringProfile against our CRD validator, values against values.schema.json, the chart's CRDs against
// crds/, least-privilege RBAC, the security contexts, and acceptance by the fake API server via kubectl.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Ajv } from "ajv";
import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { PriorityClass } from "kubernetes-models/scheduling.k8s.io/v1/PriorityClass";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { validateMonitoringProfile } from "../../api/v1alpha1/validators.ts";
import { AGENT_RUNTIME, OPERATOR_RUNTIME } from "../../bench/setup.ts";
import { FakeApiServer } from "../fake-apiserver/index.ts";
import { CHART_DIR, type Manifest, RenderError, type Rendered, ROOT, renderChart } from "./render.ts";

const NS = "vesmon-system";
const CREDENTIALS_SECRET = "vesmon-agent-credentials";

type Model = new (obj: never) => { validate(): void };
/** The built-in kinds the chart renders, by `apiVersion/kind`. */
const MODELS: Record<string, Model> = {
  "apps/v1/Deployment": Deployment,
  "apps/v1/DaemonSet": DaemonSet,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "apiextensions.k8s.io/v1/CustomResourceDefinition": CustomResourceDefinition,
  "scheduling.k8s.io/v1/PriorityClass": PriorityClass,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": ValidatingAdmissionPolicy,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": ValidatingAdmissionPolicyBinding,
};

/** The prometheus-operator kinds have no kubernetes-models; these are the fields the chart relies on. */
function validateMonitor(m: Manifest): void {
  const endpoints = m.kind === "ServiceMonitor" ? m.spec?.endpoints : m.spec?.podMetricsEndpoints;
  if (!m.metadata?.name || !m.metadata.namespace) throw new Error(`${m.kind}: metadata.name/namespace`);
  if (typeof m.spec?.selector?.matchLabels !== "object")
    throw new Error(`${m.kind}: spec.selector.matchLabels`);
  if (!Array.isArray(endpoints) || endpoints.length === 0) throw new Error(`${m.kind}: no endpoints`);
  for (const e of endpoints) {
    if (typeof e.port !== "string") throw new Error(`${m.kind}: endpoint port must be a port name`);
    for (const d of [e.interval, e.scrapeTimeout])
      if (d !== undefined && !/^[0-9]+(ms|s|m|h)$/.test(d)) throw new Error(`${m.kind}: bad duration ${d}`);
  }
}

/** Validates one rendered object: kubernetes-models for built-ins, our validator for vesmon CRs. */
function validateManifest(m: Manifest): void {
  const key = `${m.apiVersion}/${m.kind}`;
  if (m.apiVersion === "vesmon.io/v1alpha1" && m.kind === "MonitoringProfile") {
    const r = validateMonitoringProfile(m);
    if (!r.ok) throw new Error(`MonitoringProfile ${m.metadata.name}: ${JSON.stringify(r.errors)}`);
    return;
  }
  if (
    m.apiVersion === "monitoring.coreos.com/v1" &&
    (m.kind === "ServiceMonitor" || m.kind === "PodMonitor")
  ) {
    validateMonitor(m);
    return;
  }
  const M = MODELS[key];
  if (!M) throw new Error(`no model for ${key} (${m.metadata?.name})`);
  new M(m as never).validate();
}

/** Helm's coalescing of user values over values.yaml: maps merge, null removes, the rest replaces. */
function coalesce(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(b)) out[k] = coalesce(b, v);
    else out[k] = v;
  }
  return out;
}
const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const defaultValues = parse(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")) as Record<string, unknown>;
const valuesSchema = JSON.parse(readFileSync(join(CHART_DIR, "values.schema.json"), "utf8"));
const validateValues = new Ajv({ allErrors: true, strict: false }).compile(valuesSchema);

/** The value sets the chart is rendered with; every one must pass the schema and render valid manifests. */
const VALUE_SETS: Record<string, Record<string, unknown>> = {
  default: {},
  "metrics monitors on": {
    metrics: {
      serviceMonitor: { enabled: true, labels: { release: "prom" } },
      podMonitor: { enabled: true },
    },
  },
  "example profile on": { exampleProfile: { enabled: true } },
  "tolerations off": { agent: { tolerations: [] } },
  "custom image and tag": {
    image: { repository: "registry.example.com/team/vesmon", tag: "1.2.3-rc.1", pullPolicy: "Always" },
    imagePullSecrets: [{ name: "regcred" }],
  },
  "image digest": { image: { digest: `sha256:${"ab".repeat(32)}` } },
  "agent as root": { agent: { podSecurityContext: { runAsUser: 0, runAsNonRoot: false } } },
  "single operator, no leader election": {
    operator: { replicas: 1, leaderElection: { enabled: false } },
    agent: { hostNetwork: false, libvirt: { enabled: false }, service: { enabled: false } },
  },
  "kubevirt on": {
    agent: { kubevirt: { enabled: true }, podSecurityContext: { runAsUser: 0, runAsNonRoot: false } },
  },
  "names and labels overridden": {
    fullnameOverride: "vm",
    commonLabels: { team: "nfv" },
    operator: { serviceAccount: { name: "op-sa" }, podLabels: { a: "b" } },
    agent: {
      priorityClassName: "",
      priorityClass: { create: false },
      updateStrategy: { maxUnavailable: 2 },
      extraArgs: ["--node-name=x"],
    },
  },
};

const rendered: Record<string, Rendered> = {};

beforeAll(() => {
  for (const [name, values] of Object.entries(VALUE_SETS)) rendered[name] = renderChart(values);
}, 120_000);

const find = (r: Rendered, kind: string, nameSuffix = ""): Manifest[] =>
  r.manifests.filter((m) => m.kind === kind && m.metadata.name.endsWith(nameSuffix));
const one = (r: Rendered, kind: string, nameSuffix = ""): Manifest => {
  const ms = find(r, kind, nameSuffix);
  if (ms.length !== 1) throw new Error(`expected one ${kind} *${nameSuffix}, got ${ms.length}`);
  return ms[0]!;
};
const operatorDeployment = (r: Rendered) => one(r, "Deployment", "-operator");
const agentDaemonSet = (r: Rendered) => one(r, "DaemonSet", "-agent");
// biome-ignore lint/suspicious/noExplicitAny: container specs are plain rendered YAML.
const container = (m: Manifest, name: string): any => {
  const c = m.spec.template.spec.containers.find((x: { name: string }) => x.name === name);
  if (!c) throw new Error(`no container ${name} in ${m.metadata.name}`);
  return c;
};

describe("chart metadata and values", () => {
  it("Chart.yaml is apiVersion v2 with the package version as appVersion", () => {
    const chart = parse(readFileSync(join(CHART_DIR, "Chart.yaml"), "utf8"));
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(chart.apiVersion).toBe("v2");
    expect(chart.name).toBe("vesmon");
    expect(chart.appVersion).toBe(pkg.version);
  });

  it("values.yaml and every test value set pass values.schema.json", () => {
    expect(validateValues(defaultValues), JSON.stringify(validateValues.errors)).toBe(true);
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const ok = validateValues(coalesce(defaultValues, values));
      expect(ok, `${name}: ${JSON.stringify(validateValues.errors)}`).toBe(true);
    }
  });

  it("values.schema.json allows `global`, so the chart works as a subchart", () => {
    const asSubchart = coalesce(defaultValues, { global: { imageRegistry: "registry.example.com" } });
    expect(validateValues(asSubchart), JSON.stringify(validateValues.errors)).toBe(true);
  });

  it.each<[string, Record<string, unknown>]>([
    ["an unknown node restriction mode", { agent: { nodeRestriction: "yes" } }],
    [
      "a priority class value above user-defined classes",
      { agent: { priorityClass: { value: 2000000000 } } },
    ],
    ["zero operator replicas", { operator: { replicas: 0 } }],
    ["an unknown pull policy", { image: { pullPolicy: "Sometimes" } }],
    ["an empty repository", { image: { repository: "" } }],
    ["a malformed digest", { image: { digest: "latest" } }],
    ["an unknown top-level key", { operatr: { replicas: 2 } }],
    ["an unknown operator key", { operator: { replica: 2 } }],
    ["maxUnavailable above 100%", { agent: { updateStrategy: { maxUnavailable: "150%" } } }],
    ["a relative state directory", { agent: { stateDir: "var/lib/vesmon" } }],
    ["a string port", { agent: { port: "9464" } }],
    ["a bad log level", { operator: { logLevel: "loud" } }],
    ["tolerations as a map", { agent: { tolerations: { operator: "Exists" } } }],
    ["an invalid example profile name", { exampleProfile: { enabled: true, name: "Not_A_Name" } }],
  ])("values.schema.json refuses %s", (_name, values) => {
    expect(validateValues(coalesce(defaultValues, values))).toBe(false);
  });

  it("every value in values.yaml is documented by a comment on it or on an enclosing key", () => {
    const lines = readFileSync(join(CHART_DIR, "values.yaml"), "utf8").split("\n");
    // Keys open a scope; a key is documented when the line above is a comment or an enclosing key is.
    const stack: { indent: number; documented: boolean }[] = [];
    const undocumented: string[] = [];
    for (const [i, line] of lines.entries()) {
      const m = /^(\s*)(?:- )?([A-Za-z][\w./-]*):(?:\s+(\S.*))?$/.exec(line);
      if (!m) continue;
      const indent = m[1]!.length;
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      const documented = (lines[i - 1] ?? "").trim().startsWith("#") || stack.some((s) => s.documented);
      const leaf = m[3] !== undefined && !m[3].startsWith("#");
      if (leaf && !documented) undocumented.push(`${i + 1}: ${m[2]}`);
      stack.push({ indent, documented });
    }
    expect(undocumented).toEqual([]);
  });
});

describe("rendered manifests", () => {
  it.each(Object.keys(VALUE_SETS))("%s: every manifest validates against the Kubernetes schemas", (name) => {
    const r = rendered[name]!;
    expect(r.manifests.length).toBeGreaterThan(8);
    for (const [i, m] of r.manifests.entries()) {
      expect(() => validateManifest(m), `${r.sources[i]} ${m.kind}/${m.metadata?.name}`).not.toThrow();
      // Events about cluster-scoped objects live in `default`, so the operator's right to write them does too.
      const inDefault = m.metadata.name.endsWith("-events") && ["Role", "RoleBinding"].includes(m.kind);
      const clusterScoped = [
        "ClusterRole",
        "ClusterRoleBinding",
        "MonitoringProfile",
        "PriorityClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
      ];
      if (!clusterScoped.includes(m.kind))
        expect(m.metadata.namespace, `${m.kind}/${m.metadata.name}`).toBe(inDefault ? "default" : NS);
      expect(m.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("Helm");
      expect(m.metadata.name.length).toBeLessThanOrEqual(63);
    }
    const ids = r.manifests.map((m) => `${m.kind}/${m.metadata.namespace ?? ""}/${m.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(r.notes).toContain("vesmon");
  });

  it("a manifest that breaks the schema is caught by the validation used here", () => {
    const d = structuredClone(operatorDeployment(rendered.default!));
    d.spec.template.spec.containers[0].ports[0].containerPort = "http";
    expect(() => validateManifest(d)).toThrow(/integer/);
    const noSelector = structuredClone(agentDaemonSet(rendered.default!));
    delete noSelector.spec.selector;
    expect(() => validateManifest(noSelector)).toThrow(/selector/);
  });

  it("the default render has the expected objects and no optional ones", () => {
    const kinds = rendered.default!.manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        "ClusterRole/vesmon-agent",
        "ClusterRole/vesmon-operator",
        "ClusterRoleBinding/vesmon-agent",
        "ClusterRoleBinding/vesmon-operator",
        "DaemonSet/vesmon-agent",
        "Deployment/vesmon-operator",
        "PodDisruptionBudget/vesmon-operator",
        "PriorityClass/vesmon-agent",
        "Role/vesmon-operator",
        "Role/vesmon-operator-events",
        "RoleBinding/vesmon-operator",
        "RoleBinding/vesmon-operator-events",
        "Service/vesmon-agent-metrics",
        "Service/vesmon-operator-metrics",
        "ServiceAccount/vesmon-agent",
        "ServiceAccount/vesmon-operator",
      ].sort(),
    );
  });

  it("renders no Secret: the managed credentials Secret belongs to the operator", () => {
    for (const r of Object.values(rendered)) expect(find(r, "Secret")).toEqual([]);
  });

  it("services select their workload's pods through a named container port", () => {
    for (const [name, r] of Object.entries(rendered)) {
      for (const svc of find(r, "Service")) {
        const workload = r.manifests.find(
          (m) =>
            (m.kind === "Deployment" || m.kind === "DaemonSet") &&
            Object.entries(svc.spec.selector).every(([k, v]) => m.spec.template.metadata.labels[k] === v),
        );
        expect(workload, `${name}: ${svc.metadata.name}`).toBeDefined();
        const ports = workload!.spec.template.spec.containers.flatMap((c: { ports?: { name: string }[] }) =>
          (c.ports ?? []).map((p) => p.name),
        );
        for (const p of svc.spec.ports) expect(ports).toContain(p.targetPort);
        // Selectors must also match the workload's own selector (no selecting another release's pods).
        expect(svc.spec.selector).toEqual(workload!.spec.selector.matchLabels);
      }
    }
  });

  it("ServiceMonitors and PodMonitors are off by default and select the metrics Services/pods when on", () => {
    expect(find(rendered.default!, "ServiceMonitor")).toEqual([]);
    expect(find(rendered.default!, "PodMonitor")).toEqual([]);
    const r = rendered["metrics monitors on"]!;
    const sms = find(r, "ServiceMonitor");
    expect(sms.map((m) => m.metadata.name).sort()).toEqual(["vesmon-agent", "vesmon-operator"]);
    for (const sm of sms) {
      expect(sm.apiVersion).toBe("monitoring.coreos.com/v1");
      expect(sm.metadata.labels?.release).toBe("prom");
      const svc = find(r, "Service").find((s) =>
        Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
      );
      expect(svc, sm.metadata.name).toBeDefined();
      expect(svc!.spec.ports.map((p: { name: string }) => p.name)).toContain(sm.spec.endpoints[0].port);
      expect(sm.spec.endpoints[0].path).toBe("/metrics");
    }
    expect(
      find(r, "PodMonitor")
        .map((m) => m.metadata.name)
        .sort(),
    ).toEqual(["vesmon-agent", "vesmon-operator"]);
  });

  it("the example MonitoringProfile is off by default, and when on it is a valid cluster-scoped profile", () => {
    expect(find(rendered.default!, "MonitoringProfile")).toEqual([]);
    const mp = one(rendered["example profile on"]!, "MonitoringProfile");
    expect(mp.apiVersion).toBe("vesmon.io/v1alpha1");
    expect(mp.metadata.name).toBe("example-host");
    expect(mp.metadata.namespace).toBeUndefined();
    expect(validateMonitoringProfile(mp).ok).toBe(true);
  });

  it("an example profile spec from values is validated: a broken one is refused by the CRD validator", () => {
    const r = renderChart({
      exampleProfile: {
        enabled: true,
        name: "bad",
        spec: { collectors: [{ name: "cpu", interval: "1ms" }] },
      },
    });
    const mp = one(r, "MonitoringProfile");
    expect(() => validateManifest(mp)).toThrow(/MonitoringProfile bad/);
  });

  it("custom image, tag, digest and pull secrets reach every container", () => {
    for (const [set, image] of [
      ["default", "ghcr.io/vesmon/vesmon:0.1.0"],
      ["custom image and tag", "registry.example.com/team/vesmon:1.2.3-rc.1"],
      ["image digest", `ghcr.io/vesmon/vesmon@sha256:${"ab".repeat(32)}`],
    ] as const) {
      const r = rendered[set]!;
      for (const w of [operatorDeployment(r), agentDaemonSet(r)]) {
        const spec = w.spec.template.spec;
        for (const c of [...spec.containers, ...(spec.initContainers ?? [])])
          expect(c.image, set).toBe(image);
      }
    }
    const custom = rendered["custom image and tag"]!;
    expect(operatorDeployment(custom).spec.template.spec.imagePullSecrets).toEqual([{ name: "regcred" }]);
    expect(agentDaemonSet(custom).spec.template.spec.imagePullSecrets).toEqual([{ name: "regcred" }]);
    expect(container(agentDaemonSet(custom), "agent").imagePullPolicy).toBe("Always");
  });

  it("overridden names, labels and service account names are used consistently", () => {
    const r = rendered["names and labels overridden"]!;
    expect(operatorDeployment(r).metadata.name).toBe("vm-operator");
    expect(agentDaemonSet(r).metadata.name).toBe("vm-agent");
    for (const m of r.manifests) expect(m.metadata.labels?.team).toBe("nfv");
    expect(operatorDeployment(r).spec.template.spec.serviceAccountName).toBe("op-sa");
    expect(one(r, "ServiceAccount", "op-sa")).toBeDefined();
    for (const b of [...find(r, "RoleBinding"), ...find(r, "ClusterRoleBinding")].filter((b) =>
      b.metadata.name.endsWith("-operator"),
    ))
      expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: "op-sa", namespace: NS }]);
    expect(agentDaemonSet(r).spec.template.spec.priorityClassName).toBeUndefined();
    expect(agentDaemonSet(r).spec.updateStrategy.rollingUpdate.maxUnavailable).toBe(2);
    expect(container(agentDaemonSet(r), "agent").args).toContain("--node-name=x");
  });

  it("a required value that is missing fails the render with its message", () => {
    expect(() => renderChart({ operator: { serviceAccount: { create: false, name: "" } } })).toThrow(
      RenderError,
    );
    expect(() => renderChart({ operator: { serviceAccount: { create: false, name: "" } } })).toThrow(
      /operator.serviceAccount.name is required/,
    );
  });
});

describe("CRDs", () => {
  it("charts/vesmon/crds is a byte-for-byte copy of crds/", () => {
    const ours = readdirSync(join(ROOT, "crds")).sort();
    const chart = readdirSync(join(CHART_DIR, "crds")).sort();
    expect(chart).toEqual(ours);
    expect(ours.length).toBeGreaterThanOrEqual(2);
    for (const f of ours)
      expect(readFileSync(join(CHART_DIR, "crds", f)).equals(readFileSync(join(ROOT, "crds", f))), f).toBe(
        true,
      );
  });

  it("the chart's CRDs validate as CustomResourceDefinitions", () => {
    for (const f of readdirSync(join(CHART_DIR, "crds"))) {
      for (const doc of parseAllDocuments(readFileSync(join(CHART_DIR, "crds", f), "utf8"))) {
        const crd = doc.toJS() as Manifest;
        expect(crd.kind).toBe("CustomResourceDefinition");
        expect(() => validateManifest(crd), f).not.toThrow();
      }
    }
  });
});

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** The rules granted to a ServiceAccount through the rendered (Cluster)RoleBindings. */
function rulesOf(r: Rendered, serviceAccount: string): { scope: string; rule: Rule }[] {
  const out: { scope: string; rule: Rule }[] = [];
  for (const b of [...find(r, "RoleBinding"), ...find(r, "ClusterRoleBinding")]) {
    const bound = (b.subjects ?? []).some(
      (s: { kind: string; name: string; namespace?: string }) =>
        s.kind === "ServiceAccount" && s.name === serviceAccount && s.namespace === NS,
    );
    if (!bound) continue;
    const role = r.manifests.find(
      (m) =>
        m.kind === b.roleRef.kind &&
        m.metadata.name === b.roleRef.name &&
        (m.kind === "ClusterRole" || m.metadata.namespace === b.metadata.namespace),
    );
    if (!role) throw new Error(`${b.kind} ${b.metadata.name} refers to a role the chart does not render`);
    const scope = b.kind === "ClusterRoleBinding" ? "cluster" : `namespace:${b.metadata.namespace}`;
    for (const rule of role.rules as Rule[]) out.push({ scope, rule });
  }
  return out;
}

/** Flattens rules into "scope group/resource verb [names]" lines. */
function grants(rules: { scope: string; rule: Rule }[]): string[] {
  const out: string[] = [];
  for (const { scope, rule } of rules)
    for (const g of rule.apiGroups ?? [])
      for (const res of rule.resources ?? [])
        for (const v of rule.verbs)
          out.push(
            `${scope} ${g || "core"}/${res} ${v}${rule.resourceNames ? ` [${rule.resourceNames.join(",")}]` : ""}`,
          );
  return out.sort();
}

describe("RBAC is least privilege", () => {
  it.each(Object.keys(VALUE_SETS))("%s: no wildcard and no non-resource URL in any rule", (name) => {
    for (const m of rendered[name]!.manifests.filter((x) => x.kind === "ClusterRole" || x.kind === "Role")) {
      expect(m.aggregationRule).toBeUndefined();
      for (const rule of m.rules as Rule[]) {
        const all = [
          ...(rule.apiGroups ?? []),
          ...(rule.resources ?? []),
          ...rule.verbs,
          ...(rule.resourceNames ?? []),
        ];
        expect(
          all.filter((s) => s.includes("*")),
          `${m.metadata.name}`,
        ).toEqual([]);
        expect(rule.nonResourceURLs).toBeUndefined();
        expect(rule.verbs).not.toContain("escalate");
        expect(rule.verbs).not.toContain("bind");
        expect(rule.verbs).not.toContain("impersonate");
      }
    }
  });

  it("the agent reads NodeMonitors and MonitoringProfiles, writes only NodeMonitor status, and has no access to Secrets", () => {
    for (const [name, r] of Object.entries(rendered)) {
      const sa = agentDaemonSet(r).spec.template.spec.serviceAccountName;
      const rules = rulesOf(r, sa);
      // Pods only on KubeVirt nodes' request: the agent lists its node's virt-launcher pods.
      const kubevirt = name === "kubevirt on" ? ["cluster core/pods list", "cluster core/pods watch"] : [];
      expect(grants(rules), name).toEqual([
        ...kubevirt,
        "cluster vesmon.io/monitoringprofiles get",
        "cluster vesmon.io/monitoringprofiles list",
        "cluster vesmon.io/monitoringprofiles watch",
        "cluster vesmon.io/nodemonitors get",
        "cluster vesmon.io/nodemonitors list",
        "cluster vesmon.io/nodemonitors watch",
        "cluster vesmon.io/nodemonitors/status get",
        "cluster vesmon.io/nodemonitors/status patch",
      ]);
      expect(rules.some(({ rule }) => (rule.resources ?? []).some((x) => x.startsWith("secrets")))).toBe(
        false,
      );
    }
  });

  it("the operator gets exactly what it uses, with Secret writes limited to the managed Secret", () => {
    const r = rendered.default!;
    const ns = `namespace:${NS}`;
    expect(grants(rulesOf(r, "vesmon-operator"))).toEqual(
      [
        "cluster vesmon.io/monitoringprofiles get",
        "cluster vesmon.io/monitoringprofiles list",
        "cluster vesmon.io/monitoringprofiles watch",
        "cluster vesmon.io/monitoringprofiles/status get",
        "cluster vesmon.io/monitoringprofiles/status patch",
        "cluster vesmon.io/nodemonitors get",
        "cluster vesmon.io/nodemonitors list",
        "cluster vesmon.io/nodemonitors watch",
        "cluster vesmon.io/nodemonitors create",
        "cluster vesmon.io/nodemonitors patch",
        "cluster vesmon.io/nodemonitors delete",
        "cluster core/nodes get",
        "cluster core/nodes list",
        "cluster core/nodes watch",
        `${ns} core/secrets get`,
        `${ns} core/secrets list`,
        `${ns} core/secrets watch`,
        `${ns} core/secrets create`,
        `${ns} core/secrets patch [${CREDENTIALS_SECRET}]`,
        `${ns} core/secrets update [${CREDENTIALS_SECRET}]`,
        `${ns} coordination.k8s.io/leases create`,
        `${ns} coordination.k8s.io/leases get [vesmon-operator]`,
        `${ns} coordination.k8s.io/leases update [vesmon-operator]`,
        "namespace:default core/events create",
        "namespace:default core/events patch",
      ].sort(),
    );
  });

  it("no cluster-wide rule touches Secrets, and Secret write verbs always carry resourceNames", () => {
    for (const [name, r] of Object.entries(rendered)) {
      for (const role of [...find(r, "ClusterRole"), ...find(r, "Role")]) {
        for (const rule of role.rules as Rule[]) {
          if (!(rule.resources ?? []).includes("secrets")) continue;
          expect(role.kind, `${name}: ${role.metadata.name}`).toBe("Role");
          for (const v of rule.verbs.filter((x) =>
            ["patch", "update", "delete", "deletecollection"].includes(x),
          ))
            expect(rule.resourceNames, `${name}: ${v}`).toEqual([CREDENTIALS_SECRET]);
          expect(rule.verbs).not.toContain("delete");
          expect(rule.verbs).not.toContain("deletecollection");
        }
      }
    }
  });

  it("without leader election the operator gets no Lease rights", () => {
    const r = rendered["single operator, no leader election"]!;
    expect(grants(rulesOf(r, "vesmon-operator")).filter((g) => g.includes("leases"))).toEqual([]);
    expect(container(operatorDeployment(r), "operator").args).toContain("--no-leader-elect");
    expect(find(r, "PodDisruptionBudget")).toEqual([]);
  });
});

describe("operator Deployment", () => {
  it("runs two leader-elected replicas with probes, resources and downward-API identity", () => {
    const d = operatorDeployment(rendered.default!);
    expect(d.spec.replicas).toBe(2);
    const c = container(d, "operator");
    // The operator benchmark runs it so (bench/setup.ts): its figures are the deployed operator's.
    expect(c.command).toEqual(["node", ...OPERATOR_RUNTIME.nodeFlags, "dist/operator/main.js"]);
    expect(c.args).toContain("--listen=0.0.0.0:8080");
    expect(c.args).not.toContain("--no-leader-elect");
    const env = Object.fromEntries(c.env.map((e: { name: string }) => [e.name, e]));
    expect(env.POD_NAMESPACE.valueFrom.fieldRef.fieldPath).toBe("metadata.namespace");
    expect(env.POD_NAME.valueFrom.fieldRef.fieldPath).toBe("metadata.name");
    for (const [name, value] of Object.entries(OPERATOR_RUNTIME.env)) expect(env[name].value).toBe(value);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http-metrics" });
    expect(c.ports).toEqual([{ name: "http-metrics", containerPort: 8080, protocol: "TCP" }]);
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    // The old space is a share of this limit, and the benchmark runs the operator under the same one.
    expect(c.resources.limits.memory).toBe(`${OPERATOR_RUNTIME.memoryLimitMiB}Mi`);
    expect(d.spec.template.spec.affinity.podAntiAffinity).toBeDefined();
    expect(one(rendered.default!, "PodDisruptionBudget").spec.minAvailable).toBe(1);
  });

  it.each(Object.keys(VALUE_SETS))(
    "%s: runs non-root, read-only, no capabilities, RuntimeDefault",
    (name) => {
      const spec = operatorDeployment(rendered[name]!).spec.template.spec;
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
      expect(spec.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
      expect(spec.hostNetwork).toBeUndefined();
      expect(spec.volumes.some((v: { hostPath?: unknown }) => v.hostPath)).toBe(false);
      for (const c of spec.containers) {
        expect(c.securityContext).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
        expect(c.securityContext.capabilities.add).toBeUndefined();
        expect(c.securityContext.privileged).toBeUndefined();
      }
    },
  );
});

describe("agent DaemonSet", () => {
  it("knows its node, host root, state directory, credentials and listen address", () => {
    const ds = agentDaemonSet(rendered.default!);
    const c = container(ds, "agent");
    expect(c.command).toEqual([
      "node",
      "--max-semi-space-size=2",
      "--max-old-space-size=256",
      "dist/agent/main.js",
    ]);
    expect(c.args).toEqual(["--listen=0.0.0.0:9464", "--credentials-dir=/etc/vesmon/credentials"]);
    const env = Object.fromEntries(c.env.map((e: { name: string }) => [e.name, e]));
    expect(env.NODE_NAME.valueFrom.fieldRef.fieldPath).toBe("spec.nodeName");
    expect(env.AGENT_HOST_ROOT.value).toBe("/host");
    expect(env.AGENT_STATE_DIR.value).toBe("/var/lib/vesmon");
    // The benchmarks measure the agent with these (bench/setup.ts).
    for (const [name, value] of Object.entries(AGENT_RUNTIME.env)) expect(env[name].value).toBe(value);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http-metrics" });
    expect(c.ports[0]).toMatchObject({ name: "http-metrics", containerPort: 9464 });
  });

  it("mounts host /proc, cgroups and libvirt read-only, the spool writable, the credentials optional", () => {
    const ds = agentDaemonSet(rendered.default!);
    const spec = ds.spec.template.spec;
    const volumes = Object.fromEntries(spec.volumes.map((v: { name: string }) => [v.name, v]));
    const mounts = Object.fromEntries(
      container(ds, "agent").volumeMounts.map((m: { name: string }) => [m.name, m]),
    );
    const hostPaths = (
      Object.values(volumes) as { name: string; hostPath?: { path: string; type?: string } }[]
    )
      .filter((v) => v.hostPath)
      .map((v) => [
        v.name,
        v.hostPath!.path,
        v.hostPath!.type,
        mounts[v.name]?.mountPath,
        mounts[v.name]?.readOnly,
      ]);
    expect(hostPaths).toEqual([
      ["host-proc", "/proc", "Directory", "/host/proc", true],
      ["host-cgroup", "/sys/fs/cgroup", "Directory", "/host/sys/fs/cgroup", true],
      ["libvirt", "/run/libvirt", "DirectoryOrCreate", "/run/libvirt", true],
      ["state", "/var/lib/vesmon", "DirectoryOrCreate", "/var/lib/vesmon", undefined],
    ]);
    expect(volumes.credentials.secret).toEqual({
      secretName: CREDENTIALS_SECRET,
      optional: true,
      defaultMode: 0o440,
    });
    expect(mounts.credentials).toMatchObject({ mountPath: "/etc/vesmon/credentials", readOnly: true });
  });

  it("runs on tainted nodes by default, and not when tolerations are turned off", () => {
    expect(agentDaemonSet(rendered.default!).spec.template.spec.tolerations).toEqual([
      { operator: "Exists" },
    ]);
    expect(agentDaemonSet(rendered["tolerations off"]!).spec.template.spec.tolerations).toBeUndefined();
  });

  it("has a priority class and a rolling update with maxUnavailable", () => {
    const ds = agentDaemonSet(rendered.default!);
    // The chart's own class: system-node-critical is refused outside kube-system on many clusters.
    expect(ds.spec.template.spec.priorityClassName).toBe("vesmon-agent");
    expect(one(rendered.default!, "PriorityClass")).toMatchObject({ value: 1000000, globalDefault: false });
    const given = renderChart({ agent: { priorityClassName: "system-node-critical" } });
    expect(agentDaemonSet(given).spec.template.spec.priorityClassName).toBe("system-node-critical");
    expect(find(given, "PriorityClass")).toEqual([]);
    expect(ds.spec.updateStrategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: "10%" },
    });
  });

  it("runs as non-root uid 65532 by default, with an init container that only chowns the spool", () => {
    const spec = agentDaemonSet(rendered.default!).spec.template.spec;
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532 });
    expect(spec.initContainers).toHaveLength(1);
    const init = spec.initContainers[0];
    expect(init.securityContext.capabilities).toEqual({ drop: ["ALL"], add: ["CHOWN", "FOWNER"] });
    expect(init.command.join(" ")).toContain('chownSync("/state", 65532, 65532)');
    expect(init.volumeMounts).toEqual([{ name: "state", mountPath: "/state" }]);
  });

  it("with runAsUser 0 runs as root without the init container", () => {
    const spec = agentDaemonSet(rendered["agent as root"]!).spec.template.spec;
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: false, runAsUser: 0 });
    expect(spec.initContainers).toBeUndefined();
  });

  it.each(Object.keys(VALUE_SETS))(
    "%s: every container is read-only, without privilege escalation, capabilities or seccomp gaps",
    (name) => {
      const spec = agentDaemonSet(rendered[name]!).spec.template.spec;
      expect(spec.hostPID).toBeUndefined();
      expect(spec.hostIPC).toBeUndefined();
      for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
        const sc = c.securityContext;
        expect(sc.readOnlyRootFilesystem, c.name).toBe(true);
        expect(sc.allowPrivilegeEscalation, c.name).toBe(false);
        expect(sc.privileged, c.name).toBeUndefined();
        expect(sc.capabilities.drop, c.name).toEqual(["ALL"]);
        expect(sc.seccompProfile ?? spec.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
      }
      expect(
        container(agentDaemonSet(rendered[name]!), "agent").securityContext.capabilities.add,
      ).toBeUndefined();
      const mounts = container(agentDaemonSet(rendered[name]!), "agent").volumeMounts as {
        name: string;
        readOnly?: boolean;
      }[];
      const hostVolumes = spec.volumes
        .filter((v: { hostPath?: unknown }) => v.hostPath)
        .map((v: { name: string }) => v.name);
      // Only the spool directory is a writable host path.
      expect(mounts.filter((m) => hostVolumes.includes(m.name) && !m.readOnly).map((m) => m.name)).toEqual([
        "state",
      ]);
    },
  );

  it("mounts the kubelet's pods directory read-only only for KubeVirt nodes", () => {
    const mountsOf = (r: Rendered) =>
      container(agentDaemonSet(r), "agent").volumeMounts as { name: string }[];
    expect(mountsOf(rendered.default!).map((m) => m.name)).not.toContain("kubelet-pods");
    expect(
      agentDaemonSet(rendered.default!).spec.template.spec.volumes.map((v: { name: string }) => v.name),
    ).not.toContain("kubelet-pods");
    const ds = agentDaemonSet(rendered["kubevirt on"]!);
    expect(ds.spec.template.spec.volumes.find((v: { name: string }) => v.name === "kubelet-pods")).toEqual({
      name: "kubelet-pods",
      hostPath: { path: "/var/lib/kubelet/pods", type: "Directory" },
    });
    expect(mountsOf(rendered["kubevirt on"]!).find((m) => m.name === "kubelet-pods")).toEqual({
      name: "kubelet-pods",
      mountPath: "/host/var/lib/kubelet/pods",
      readOnly: true,
      mountPropagation: "HostToContainer",
    });
  });

  it("can leave the host network and libvirt out", () => {
    const r = rendered["single operator, no leader election"]!;
    const spec = agentDaemonSet(r).spec.template.spec;
    expect(spec.hostNetwork).toBeUndefined();
    expect(spec.volumes.map((v: { name: string }) => v.name)).not.toContain("libvirt");
    expect(find(r, "Service", "-agent-metrics")).toEqual([]);
    expect(agentDaemonSet(rendered.default!).spec.template.spec).toMatchObject({
      hostNetwork: true,
      dnsPolicy: "ClusterFirstWithHostNet",
    });
  });
});

describe("kubectl apply to the fake API server", () => {
  let api: FakeApiServer;
  let dir: string;
  let kubeconfig: string;
  const kubectl = async (...args: string[]) =>
    (await promisify(execFile)("kubectl", ["--kubeconfig", kubeconfig, ...args], { timeout: 30_000 })).stdout;

  beforeAll(async () => {
    api = new FakeApiServer();
    await api.start();
    dir = await mkdtemp(join(tmpdir(), "vesmon-chart-kubectl-"));
    kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, api.kubeConfig().exportConfig());
  });
  afterAll(async () => {
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // Every rendered manifest the fake serves (all but the Prometheus Operator's monitors, whose CRDs a cluster
  // may not have) goes through kubectl and is stored; the fake does not run Deployments or enforce RBAC.
  it("accepts the rendered manifests, applied with kubectl as rendered", async () => {
    const r = rendered["example profile on"]!;
    const applicable = [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
      ...r.manifests.filter((m) => m.apiVersion !== "monitoring.coreos.com/v1"),
    ];
    expect(new Set(applicable.map((m) => m.kind))).toEqual(
      new Set([
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
        "DaemonSet",
        "PodDisruptionBudget",
        "PriorityClass",
        "MonitoringProfile",
      ]),
    );
    const file = join(dir, "manifests.yaml");
    await writeFile(file, applicable.map((m) => JSON.stringify(m)).join("\n---\n"));
    const out = await kubectl(
      "apply",
      "--server-side",
      "--field-manager=helm",
      "--validate=false",
      "-f",
      file,
    );
    expect(out).toMatch(/namespace\/vesmon-system serverside-applied/);
    expect(out).toMatch(/daemonset.apps\/vesmon-agent serverside-applied/);
    expect(out).toMatch(/deployment.apps\/vesmon-operator serverside-applied/);
    expect(out).toMatch(/clusterrole.rbac.authorization.k8s.io\/vesmon-agent serverside-applied/);
    expect(out).toMatch(/monitoringprofile.vesmon.io\/example-host serverside-applied/);
    const stored = api.get("vesmon.io/v1alpha1", "MonitoringProfile", "example-host") as Manifest | undefined;
    expect(stored?.spec.collectors.map((c: { name: string }) => c.name)).toEqual(["cpu", "memory", "load"]);
    expect(stored?.metadata.labels?.["app.kubernetes.io/instance"]).toBe("vesmon");
    // Applying the same render again (a helm upgrade with unchanged values) is accepted and changes nothing.
    const rv = (stored?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    await kubectl("apply", "--server-side", "--field-manager=helm", "--validate=false", "-f", file);
    const again = api.get("vesmon.io/v1alpha1", "MonitoringProfile", "example-host") as Manifest | undefined;
    expect((again?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion).toBe(rv);
    expect(rv).toBeDefined();
  });

  it("refuses a broken example profile from values, as the API server would", async () => {
    const r = renderChart({
      exampleProfile: { enabled: true, name: "broken", spec: { collectors: [{ name: "cpu" }], sinks: [] } },
    });
    const file = join(dir, "broken.yaml");
    await writeFile(file, JSON.stringify(one(r, "MonitoringProfile")));
    await expect(kubectl("apply", "--server-side", "--validate=false", "-f", file)).rejects.toThrow(
      /broken.*(is invalid|Invalid)|(is invalid|Invalid).*broken/s,
    );
    expect(api.get("vesmon.io/v1alpha1", "MonitoringProfile", "broken")).toBeUndefined();
  });
});

describe("the agent's node restriction (ValidatingAdmissionPolicy)", () => {
  const VAP_API = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";

  it("is rendered when the API server serves ValidatingAdmissionPolicy v1 (1.30+), and not before", () => {
    expect(find(rendered.default!, "ValidatingAdmissionPolicy")).toEqual([]);
    const r = renderChart({}, { namespace: NS, apiVersions: [VAP_API] });
    const policy = one(r, "ValidatingAdmissionPolicy");
    const binding = one(r, "ValidatingAdmissionPolicyBinding");
    for (const m of [policy, binding]) expect(() => validateManifest(m)).not.toThrow();
    expect(binding.spec).toEqual({ policyName: policy.metadata.name, validationActions: ["Deny"] });
    expect(policy.spec.matchConditions[0].expression).toBe(
      `request.userInfo.username == "system:serviceaccount:${NS}:vesmon-agent"`,
    );
    expect(policy.spec.matchConstraints.resourceRules[0].resources).toEqual([
      "nodemonitors",
      "nodemonitors/status",
    ]);
  });

  it("follows agent.nodeRestriction: enabled renders it anywhere, disabled never", () => {
    expect(
      find(renderChart({ agent: { nodeRestriction: "enabled" } }), "ValidatingAdmissionPolicy"),
    ).toHaveLength(1);
    expect(
      find(
        renderChart({ agent: { nodeRestriction: "disabled" } }, { apiVersions: [VAP_API] }),
        "ValidatingAdmissionPolicy",
      ),
    ).toEqual([]);
  });
});
