// kubelet-lite's translation of the chart's pod specs into podman runs, and its refusals. Pure: nothing runs.
import { describe, expect, it } from "vitest";
import { type Manifest, renderChart } from "../chart/render.ts";
import { type PodContext, PodSpecError, planPod } from "./kubelet-lite-spec.ts";

const rendered = renderChart();
const template = (kind: string) =>
  (rendered.manifests.find((m) => m.kind === kind) as Manifest).spec.template as {
    spec: Record<string, unknown>;
  };
const agentSpec = () => structuredClone(template("DaemonSet").spec);
const operatorSpec = () => structuredClone(template("Deployment").spec);

const ctx = (over: Partial<PodContext> = {}): PodContext => ({
  podName: "vesmon-agent-abcde",
  namespace: "vesmon-system",
  nodeName: "node-a",
  nodeLabels: { "kubernetes.io/os": "linux" },
  podNetwork: "podman",
  hostNetwork: "container:node-a-sandbox",
  hostPath: (p) => `/nodes/node-a${p}`,
  emptyDir: (v) => `/pods/vesmon-agent-abcde/${v}`,
  secretDir: () => undefined,
  serviceAccountDir: (sa) => `/pods/sa/${sa}`,
  apiServer: { host: "10.88.0.1", port: 6443 },
  imageUser: () => "65532:65532",
  labels: { run: "t" },
  ...over,
});

/** The value following `flag` each time it appears. */
const values = (args: string[], flag: string): string[] =>
  args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));

describe("kubelet-lite plans the chart's pods", () => {
  it("runs the agent's init container, then the agent, in the node's network, as the chart says", () => {
    const plan = planPod(agentSpec(), ctx());
    expect(plan.hostNetwork).toBe(true);
    expect(plan.containers.map((c) => [c.name, c.init])).toEqual([
      ["state-dir-owner", true],
      ["agent", false],
    ]);
    const [init, agent] = plan.containers.map((c) => c.runArgs) as [string[], string[]];
    expect(values(init, "--user")).toEqual(["0:65532"]);
    expect(values(init, "--cap-add").sort()).toEqual(["chown", "fowner"]);
    expect(values(agent, "--network")).toEqual(["container:node-a-sandbox"]);
    expect(values(agent, "--user")).toEqual(["65532:65532"]);
    expect(values(agent, "--group-add")).toEqual(["65532"]);
    expect(values(agent, "--cap-drop")).toEqual(["all"]);
    expect(agent).toContain("--read-only");
    expect(values(agent, "--security-opt")).toContain("no-new-privileges");
    expect(values(agent, "--memory")).toEqual([String(256 * 2 ** 20)]);
    expect(values(agent, "--env")).toEqual(
      expect.arrayContaining([
        "NODE_NAME=node-a",
        "AGENT_HOST_ROOT=/host",
        "KUBERNETES_SERVICE_HOST=10.88.0.1",
        "KUBERNETES_SERVICE_PORT=6443",
      ]),
    );
    expect(values(agent, "--volume")).toEqual(
      expect.arrayContaining([
        "/nodes/node-a/proc:/host/proc:ro",
        "/nodes/node-a/var/lib/vesmon:/var/lib/vesmon",
        "/pods/vesmon-agent-abcde/tmp:/tmp",
        "/pods/sa/vesmon-agent:/var/run/secrets/kubernetes.io/serviceaccount:ro",
      ]),
    );
    expect(JSON.parse(values(agent, "--entrypoint")[0] as string)).toEqual([
      "node",
      "--max-semi-space-size=2",
      "--max-old-space-size=256",
      "dist/agent/main.js",
    ]);
    expect(agent.slice(agent.indexOf("ghcr.io/vesmon/vesmon:0.1.0"))).toEqual([
      "ghcr.io/vesmon/vesmon:0.1.0",
      "--listen=0.0.0.0:9464",
      "--credentials-dir=/etc/vesmon/credentials",
    ]);
    expect(plan.containers[1]?.readiness).toMatchObject({ path: "/readyz", port: 9464 });
    expect(plan.containers[1]?.liveness).toMatchObject({ path: "/healthz", port: 9464 });
    expect(plan.directories).toContain("/nodes/node-a/var/lib/vesmon");
    expect(plan.existingDirectories).toEqual(["/nodes/node-a/proc", "/nodes/node-a/sys/fs/cgroup"]);
  });

  it("mounts the credentials Secret when it exists, and skips it (optional) when it does not", () => {
    const modes: number[] = [];
    const withSecret = planPod(
      agentSpec(),
      ctx({
        secretDir: (name, mode) => {
          modes.push(mode);
          return `/secrets/${name}`;
        },
      }),
    );
    const agent = withSecret.containers[1]?.runArgs as string[];
    expect(values(agent, "--volume")).toContain(
      "/secrets/vesmon-agent-credentials:/etc/vesmon/credentials:ro",
    );
    expect(modes).toEqual([0o440]);
    const without = planPod(agentSpec(), ctx()).containers[1]?.runArgs as string[];
    expect(values(without, "--volume").some((v) => v.includes("/etc/vesmon/credentials"))).toBe(false);
  });

  it("runs the operator in its own network with its pod name and namespace", () => {
    const plan = planPod(operatorSpec(), ctx({ podName: "vesmon-operator-7d9f-xk2p" }));
    const op = plan.containers[0]?.runArgs as string[];
    expect(plan.hostNetwork).toBe(false);
    expect(values(op, "--network")).toEqual(["podman"]);
    expect(values(op, "--env")).toEqual(
      expect.arrayContaining(["POD_NAMESPACE=vesmon-system", "POD_NAME=vesmon-operator-7d9f-xk2p"]),
    );
    expect(plan.containers[0]?.readiness).toMatchObject({ path: "/readyz", port: 8080 });
  });
});

describe("kubelet-lite refuses what it does not understand", () => {
  const refusal = (spec: Record<string, unknown>, over: Partial<PodContext> = {}) => {
    try {
      planPod(spec, ctx(over));
    } catch (err) {
      expect(err).toBeInstanceOf(PodSpecError);
      return (err as PodSpecError).path;
    }
    throw new Error("planPod accepted the spec");
  };
  const agentContainer = (spec: Record<string, unknown>) =>
    (spec.containers as Record<string, unknown>[])[0] as Record<string, unknown>;

  it("an unknown pod or container field, naming it", () => {
    expect(refusal({ ...agentSpec(), shareProcessNamespace: true })).toBe("spec.shareProcessNamespace");
    const spec = agentSpec();
    Object.assign(agentContainer(spec), { startupProbe: { httpGet: { port: 9464 } } });
    expect(refusal(spec)).toBe("spec.containers[0].startupProbe");
    const sc = agentSpec();
    Object.assign(agentContainer(sc).securityContext as object, { procMount: "Unmasked" });
    expect(refusal(sc)).toBe("spec.containers[0].securityContext.procMount");
  });

  it("a volume source, field reference, probe or pull policy it cannot honour", () => {
    const vol = agentSpec();
    (vol.volumes as unknown[]).push({ name: "cfg", configMap: { name: "x" } });
    expect(refusal(vol)).toBe("spec.volumes[6].configMap");
    const env = agentSpec();
    const envs = agentContainer(env).env as unknown[];
    envs.push({ name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } });
    expect(refusal(env)).toBe(`spec.containers[0].env[${envs.length - 1}].valueFrom.fieldRef.fieldPath`);
    const tcp = agentSpec();
    Object.assign(agentContainer(tcp), { readinessProbe: { tcpSocket: { port: 9464 } } });
    expect(refusal(tcp)).toBe("spec.containers[0].readinessProbe.tcpSocket");
    const pull = agentSpec();
    Object.assign(agentContainer(pull), { imagePullPolicy: "Always" });
    expect(refusal(pull)).toBe("spec.containers[0].imagePullPolicy");
  });

  it("runAsNonRoot when the container would run as root, and a node the nodeSelector leaves out", () => {
    const spec = agentSpec();
    delete (spec.securityContext as Record<string, unknown>).runAsUser;
    expect(refusal(spec, { imageUser: () => "" })).toBe("spec.containers[0].securityContext.runAsNonRoot");
    expect(refusal(agentSpec(), { nodeLabels: { "kubernetes.io/os": "windows" } })).toBe("spec.nodeSelector");
  });
});
