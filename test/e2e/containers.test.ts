// Close to a `helm install` on two nodes: the image built from the Dockerfile (test/helpers/image.ts), the
// chart's rendered operator Deployment and agent DaemonSet run as containers by kubelet-lite, against the
// fake API server behind HTTPS with service-account tokens. The CRDs are applied and the profile applied and
// awaited with kubectl; vesmon-listener on the host validates every event against the VES schema.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListenerProcess } from "../../agent/listener/process.ts";
import { schemaValidator } from "../../agent/listener/ves-validator.ts";
import { type Manifest, renderChart } from "../chart/render.ts";
import { FakeApiServer, serviceAccountUser } from "../fake-apiserver/index.ts";
import { ApiServerFront } from "../helpers/apiserver-front.ts";
import { ensureTestImage, podmanAsync } from "../helpers/image.ts";
import { type ApiAccess, bridgeGateway, KubeletLite, type Pod } from "../helpers/kubelet-lite.ts";
import { makeTestPki } from "../helpers/tls.ts";

const NS = "vesmon-system";
const NODES = ["node-a", "node-b"];
const CRDS = join(import.meta.dirname, "../../charts/vesmon/crds");
const INTERVAL_S = 5;

let api: FakeApiServer;
let front: ApiServerFront;
let listener: ListenerProcess;
let kubelet: KubeletLite;
let dir: string;
let kubeconfig: string;
let frontUrl: string;
let caFile: string;
const agents = new Map<string, Pod>();
let operator: Pod;
/**
 * Tokens issued to service accounts for pods on a node (`namespace/name@node`), the only ones the API front
 * accepts; the fake API server knows each as that service account with the node in its user info, as a projected
 * token bound to a pod is, so the chart's RBAC and node restriction apply to the pods.
 */
const tokens = new Map<string, string>();

interface Header {
  domain: string;
  eventId: string;
  reportingEntityName: string;
  sourceName: string;
  startEpochMicrosec: number;
  lastEpochMicrosec: number;
}
interface Received {
  receivedAt: string;
  event: { commonEventHeader: Header; measurementFields?: Record<string, unknown> };
}

const kubectl = async (...args: string[]) =>
  (await promisify(execFile)("kubectl", ["--kubeconfig", kubeconfig, ...args], { timeout: 120_000 })).stdout;
const received = async () =>
  ((await (await fetch(`${listener.url}/control/events`)).json()) as { events: Received[] }).events;
const measurements = (events: Received[], node: string) =>
  events.filter(
    (e) =>
      e.event.commonEventHeader.domain === "measurement" &&
      e.event.commonEventHeader.reportingEntityName === node,
  );
const profileStatus = () =>
  (
    api.get("vesmon.io/v1alpha1", "MonitoringProfile", "nodes") as
      | { status?: Record<string, unknown> }
      | undefined
  )?.status as {
    observedGeneration?: number;
    appliedNodes?: number;
    conditions?: { type: string; status: string }[];
  };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) {
      const logs = await Promise.all([operator, ...agents.values()].filter(Boolean).map((p) => p.logs(30)));
      throw new Error(
        `timed out waiting for ${what}\n${JSON.stringify(profileStatus())}\n${logs.join("\n")}`,
      );
    }
    await sleep(500);
  }
}

const profileFile = async (collectors: object[]) => {
  const file = join(dir, "profile.yaml");
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: "vesmon.io/v1alpha1",
      kind: "MonitoringProfile",
      metadata: { name: "nodes" },
      spec: {
        collectors,
        events: { measurementInterval: `${INTERVAL_S}s`, heartbeatInterval: "10s" },
        sinks: [
          {
            name: "ves",
            ves: { url: listener.url, timeout: "2s", retry: { initialBackoff: "100ms", maxBackoff: "1s" } },
          },
        ],
      },
    }),
  );
  return file;
};

/** The event-id counter of a measurement event (`measurement0000000042` is 42). */
const counter = (e: Received) => Number(/(\d+)$/.exec(e.event.commonEventHeader.eventId)?.[1]);

/** Podman's start time of a container, to tell a restarted container from one left running. */
const startedAt = async (pod: Pod) =>
  (
    await podmanAsync([
      "inspect",
      "--format",
      "{{.State.StartedAt}}",
      [...pod.containers.values()][0]?.plan.containerName as string,
    ])
  ).trim();

beforeAll(async () => {
  const image = ensureTestImage();
  const [repository, tag] = image.split(/:(?=[^:/]+$)/) as [string, string];
  const chart = renderChart(
    { image: { repository, tag } },
    { namespace: NS, apiVersions: ["admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"] },
  );
  const template = (kind: string) => (chart.manifests.find((m) => m.kind === kind) as Manifest).spec.template;

  dir = await mkdtemp(join(tmpdir(), "vesmon-containers-"));
  kubelet = new KubeletLite({ sandboxImage: image, workDir: dir, runId: randomBytes(4).toString("hex") });
  await Promise.all(NODES.map((n) => kubelet.addNode(n)));
  // The host as the pods see it: the bridge's gateway, where the API front and the listener listen.
  const gateway = bridgeGateway();
  const pki = await makeTestPki([gateway]);

  api = new FakeApiServer();
  await api.start();
  kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, api.kubeConfig().exportConfig());
  front = new ApiServerFront({
    target: api.url,
    cert: pki.serverCert,
    key: pki.serverKey,
    acceptToken: (t) => [...tokens.values()].includes(t),
  });
  const port = await front.start(gateway);
  frontUrl = `https://${gateway}:${port}`;
  caFile = join(dir, "ca.crt");
  await writeFile(caFile, pki.ca);
  listener = new ListenerProcess({ host: gateway, port: 0, validate: schemaValidator() });
  await listener.start();

  expect(await kubectl("apply", "--server-side", "--validate=false", "-f", CRDS)).toMatch(
    /customresourcedefinition/,
  );
  api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  // The chart's RBAC and node restriction, which the fake enforces for the pods' tokens.
  const guarded = ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
  guarded.push("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding");
  for (const m of chart.manifests.filter((x) => guarded.includes(x.kind))) api.create(m as never);
  for (const n of NODES)
    api.create({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: n, labels: { "kubernetes.io/hostname": n, "kubernetes.io/os": "linux" } },
    });

  const access: ApiAccess = {
    host: gateway,
    port,
    ca: pki.ca,
    tokenFor: (ns, sa, node) => {
      const key = `${ns}/${sa}@${node}`;
      if (!tokens.has(key)) {
        const token = randomBytes(24).toString("base64url");
        tokens.set(key, token);
        api.addUser(token, serviceAccountUser(ns, sa, { "authentication.kubernetes.io/node-name": [node] }));
      }
      return tokens.get(key) as string;
    },
    secret: (ns, name) =>
      (api.get("v1", "Secret", name, ns) as { data?: Record<string, string> } | undefined)?.data,
  };
  // Started together, as a scheduler would: the operator on node-a, an agent on each node.
  const [op, ...nodeAgents] = await Promise.all([
    kubelet.runPod({
      template: template("Deployment"),
      nodeName: "node-a",
      podName: "vesmon-operator-5d4f8-x7k2q",
      namespace: NS,
      api: access,
    }),
    ...NODES.map((n) =>
      kubelet.runPod({
        template: template("DaemonSet"),
        nodeName: n,
        podName: `vesmon-agent-${n}`,
        namespace: NS,
        api: access,
      }),
    ),
  ]);
  operator = op as Pod;
  for (const [i, n] of NODES.entries()) agents.set(n, nodeAgents[i] as Pod);
  await Promise.all([operator, ...agents.values()].map((p) => p.waitReady(120_000)));
}, 1_800_000);

afterAll(async () => {
  await kubelet?.close();
  await listener?.close();
  await front?.close();
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe("the chart's pods, in containers from the image", () => {
  it("serves the CRDs applied with kubectl, and the pods reach the API only with their tokens", async () => {
    expect(await kubectl("get", "crd", "-o", "name")).toMatch(/monitoringprofiles\.vesmon\.io/);
    expect([...tokens.keys()].sort()).toEqual([
      `${NS}/vesmon-agent@node-a`,
      `${NS}/vesmon-agent@node-b`,
      `${NS}/vesmon-operator@node-a`,
    ]);
    const lease = api.get("coordination.k8s.io/v1", "Lease", "vesmon-operator", NS) as
      | { spec?: { holderIdentity?: string } }
      | undefined;
    expect(lease?.spec?.holderIdentity).toBe("vesmon-operator-5d4f8-x7k2q");
    // Another token is refused, as a real API server would.
    const refused = front.unauthorized;
    const direct = ["--kubeconfig", "/dev/null", "--server", frontUrl, "--certificate-authority", caFile];
    const wrong = await promisify(execFile)("kubectl", [...direct, "--token", "wrong", "get", "nodes"]).catch(
      (err: { stderr: string }) => err.stderr,
    );
    expect(wrong).toMatch(/Unauthorized|provide credentials/);
    expect(front.unauthorized).toBeGreaterThan(refused);
    // An agent's token reads NodeMonitors and MonitoringProfiles, as the chart's RBAC allows, and nothing more
    // (no Secrets, no profile writes).
    const agentToken = tokens.get(`${NS}/vesmon-agent@node-a`) as string;
    const asAgent = (...args: string[]) =>
      promisify(execFile)("kubectl", [...direct, "--token", agentToken, ...args]).then(
        () => "allowed",
        (err: { stderr: string }) => err.stderr,
      );
    expect(await asAgent("get", "nodemonitors")).toBe("allowed");
    expect(await asAgent("get", "monitoringprofiles")).toBe("allowed");
    // A named delete: with --all kubectl lists first and, finding none, sends no DELETE at all.
    expect(await asAgent("delete", "monitoringprofiles", "fleet")).toMatch(/Forbidden|forbidden/);
    expect(await asAgent("get", "secrets", "-n", NS)).toMatch(/Forbidden|forbidden/);
  });

  it("makes a profile Ready on both nodes, with schema-valid events from both agents", async () => {
    const file = await profileFile([
      { name: "load", interval: "1s" },
      { name: "cpu", interval: "1s" },
    ]);
    expect(await kubectl("apply", "--server-side", "--validate=false", "-f", file)).toMatch(
      /monitoringprofile.vesmon.io\/nodes/,
    );
    expect(await kubectl("wait", "--for=condition=Ready", "mp/nodes", "--timeout=90s")).toMatch(
      /condition met/,
    );
    expect(await kubectl("get", "mp", "nodes", "-o", "jsonpath={.status.appliedNodes}")).toBe("2");
    await until(async () => {
      const events = await received();
      return NODES.every((n) => measurements(events, n).length >= 2);
    }, "measurement events from both nodes");
    // The listener validated each against the schema and refused none: every event it holds is valid.
    const stats = (await (await fetch(`${listener.url}/control/stats`)).json()) as {
      accepted: number;
      responses: Record<string, number>;
    };
    expect(stats.accepted).toBeGreaterThanOrEqual(4);
    expect(Object.keys(stats.responses).filter((code) => code !== "202")).toEqual([]);
  }, 180_000);

  it("hot-applies a profile edit without restarting a container", async () => {
    const before = await Promise.all([...agents.values()].map(startedAt));
    const file = await profileFile([
      { name: "load", interval: "1s" },
      { name: "cpu", interval: "1s" },
      { name: "memory", interval: "1s" },
    ]);
    await kubectl("apply", "--server-side", "--validate=false", "-f", file);
    await until(
      () =>
        profileStatus()?.observedGeneration === 2 &&
        profileStatus()?.appliedNodes === 2 &&
        profileStatus()?.conditions?.find((c) => c.type === "Ready")?.status === "True",
      "generation 2 Ready",
    );
    const since = Date.now() * 1000;
    await until(async () => {
      const events = await received();
      return NODES.every((n) =>
        measurements(events, n).some(
          (e) =>
            e.event.commonEventHeader.startEpochMicrosec >= since &&
            e.event.measurementFields?.memoryUsageArray,
        ),
      );
    }, "memory figures from both nodes");
    expect(await Promise.all([...agents.values()].map(startedAt))).toEqual(before);
  }, 180_000);

  it("loses no event when an agent container restarts while the collector is away", async () => {
    const node = "node-b";
    const pod = agents.get(node) as Pod;
    const downAt = Date.now();
    // The collector goes away; events pile up in the agent's spool, on the node's state hostPath.
    await listener.goDown(3600);
    await sleep(3 * INTERVAL_S * 1000);
    const stoppedAt = Date.now();
    await pod.restart("agent");
    const restartedAt = Date.now();
    await pod.waitReady(120_000);
    await listener.goDown(0);
    await sleep(100);
    await listener.settled();
    await until(async () => {
      const events = measurements(await received(), node);
      return events.some((e) => e.event.commonEventHeader.startEpochMicrosec * 1e-3 > restartedAt);
    }, "events from the restarted agent");
    await sleep(INTERVAL_S * 1000);

    // In the order the listener received them: the spool delivers first in, first out.
    const events = measurements(await received(), node);
    // Each life of the agent numbers its events from 1: split the series where the counter starts again.
    const lives: Received[][] = [];
    for (const e of events) {
      const life = lives.at(-1);
      if (!life || counter(e) <= counter(life.at(-1) as Received)) lives.push([e]);
      else life.push(e);
    }
    expect(lives.length).toBe(2);
    const [first, second] = lives as [Received[], Received[]];
    // No gap and no duplicate in either life.
    for (const life of lives) expect(life.map(counter)).toEqual(life.map((_, i) => i + 1));
    // The first life's events made while the collector was away reached it after the restart, from the
    // spool the restarted container found on the hostPath; they run up to the stop.
    const spooled = first.filter((e) => e.event.commonEventHeader.lastEpochMicrosec * 1e-3 > downAt);
    expect(spooled.length).toBeGreaterThanOrEqual(2);
    for (const e of spooled) expect(Date.parse(e.receivedAt)).toBeGreaterThan(restartedAt);
    const lastEnd = Math.max(...first.map((e) => e.event.commonEventHeader.lastEpochMicrosec * 1e-3));
    expect(lastEnd).toBeGreaterThan(stoppedAt - 2 * INTERVAL_S * 1000);
    expect(second.length).toBeGreaterThan(0);
    expect([...agents.values()].map((p) => p.containers.get("agent")?.restarts)).toEqual([0, 1]);
  }, 300_000);
});
