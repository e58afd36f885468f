import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatusWriter } from "../../agent/status/writer.ts";
import { EventRecorder } from "../../kube/events.ts";
import { renderChart } from "../chart/render.ts";
import { ManualTimers } from "../helpers/manual-timers.ts";
import { MP, NM, node, nodeMonitor } from "./fixtures.ts";
import { FakeApiServer, serviceAccountUser } from "./index.ts";

// The chart's own RBAC and ValidatingAdmissionPolicy, rendered and loaded into the fake, enforced on requests
// made with the agents' and the operator's service-account tokens.
const NS = "vesmon-system";
const NODE_NAME = "authentication.kubernetes.io/node-name";
let api: FakeApiServer;

beforeAll(async () => {
  api = new FakeApiServer();
  await api.start();
  const r = renderChart(
    {},
    { namespace: NS, apiVersions: ["admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"] },
  );
  const kinds = [
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
  ];
  for (const m of r.manifests.filter((x) => kinds.includes(x.kind))) api.create(m as never);
  api.addUser("agent-n1", serviceAccountUser(NS, "vesmon-agent", { [NODE_NAME]: ["n1"] }));
  api.addUser("agent-unbound", serviceAccountUser(NS, "vesmon-agent"));
  api.addUser("operator", serviceAccountUser(NS, "vesmon-operator"));
  for (const n of ["n1", "n2"]) {
    api.create(node(n));
    api.create(nodeMonitor(n));
  }
}, 120_000);
afterAll(async () => {
  await api?.close();
});

const code = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (e: { code?: number }) => e.code,
  );

describe("the chart's RBAC and node restriction, enforced", () => {
  it("lets an agent write its own NodeMonitor's status and refuses another node's", async () => {
    const writer = (token: string, nodeName: string) =>
      new StatusWriter({ api: api.restClient(token), nodeName, timers: new ManualTimers() });
    const own = writer("agent-n1", "n1");
    own.request(() => ({ observedGeneration: 1, agentVersion: "1" }));
    await own.flush();
    expect(own.writes).toBe(1);
    expect(api.get("vesmon.io/v1alpha1", "NodeMonitor", "n1")?.status).toEqual({
      observedGeneration: 1,
      agentVersion: "1",
    });

    const custom = api.kubeConfig("agent-n1").makeApiClient(CustomObjectsApi);
    const other = await custom
      .patchClusterCustomObjectStatus({
        ...NM,
        name: "n2",
        body: [{ op: "add", path: "/status", value: { agentVersion: "evil" } }],
      })
      .catch((e: { code: number; body: string }) => e);
    expect((other as { code: number }).code).toBe(403);
    expect(JSON.parse((other as { body: string }).body).message).toBe(
      `ValidatingAdmissionPolicy 'vesmon-agent-node-restriction' with binding 'vesmon-agent-node-restriction' denied request: the vesmon agent of node "n1" may write only the NodeMonitor of its own node, not "n2"`,
    );
    expect(api.get("vesmon.io/v1alpha1", "NodeMonitor", "n2")?.status).toBeUndefined();
    // A token not bound to a pod on a node may write none.
    const unbound = api.kubeConfig("agent-unbound").makeApiClient(CustomObjectsApi);
    expect(
      await code(
        unbound.patchClusterCustomObjectStatus({
          ...NM,
          name: "n1",
          body: [{ op: "add", path: "/status", value: {} }],
        }),
      ),
    ).toBe(403);
  });

  it("gives the agent reads of NodeMonitors and MonitoringProfiles and nothing else", async () => {
    const kc = api.kubeConfig("agent-n1");
    const custom = kc.makeApiClient(CustomObjectsApi);
    expect(await code(custom.listClusterCustomObject({ ...NM, fieldSelector: "metadata.name=n1" }))).toBe(
      200,
    );
    // The NodeMonitor names profiles; the agent reads their specs, and may not change them.
    expect(await code(custom.listClusterCustomObject(MP))).toBe(200);
    expect(
      await code(
        custom.patchClusterCustomObject({
          ...MP,
          name: "p",
          body: [{ op: "add", path: "/metadata/labels", value: { x: "y" } }],
        }),
      ),
    ).toBe(403);
    const core = kc.makeApiClient(CoreV1Api);
    const denied = await core
      .listNamespacedSecret({ namespace: NS })
      .catch((e: { code: number; body: string }) => e);
    expect((denied as { code: number }).code).toBe(403);
    expect(JSON.parse((denied as { body: string }).body).message).toBe(
      `secrets is forbidden: User "system:serviceaccount:${NS}:vesmon-agent" cannot list resource "secrets" in API group "" in the namespace "${NS}"`,
    );
    // RBAC cannot tell NodeMonitors apart: the spec is the operator's alone.
    expect(
      await code(
        custom.patchClusterCustomObject({
          ...NM,
          name: "n1",
          body: [{ op: "add", path: "/metadata/labels", value: { x: "y" } }],
        }),
      ),
    ).toBe(403);
  });

  it("lets the operator record events about profiles in default, and nowhere else", async () => {
    const recorder = new EventRecorder({
      kubeConfig: api.kubeConfig("operator"),
      component: "vesmon-operator",
      timers: new ManualTimers(),
    });
    await recorder.record(
      { apiVersion: "vesmon.io/v1alpha1", kind: "MonitoringProfile", name: "p" },
      "Normal",
      "Applied",
      "m",
    );
    expect(recorder.failed).toBe(0);
    expect(api.list("v1", "Event", "default")).toHaveLength(1);
    const core = api.kubeConfig("operator").makeApiClient(CoreV1Api);
    expect(await code(core.listNamespacedSecret({ namespace: "kube-system" }))).toBe(403);
  });

  it("refuses an unknown token with 401", async () => {
    const custom = api.kubeConfig("stolen").makeApiClient(CustomObjectsApi);
    expect(await code(custom.listClusterCustomObject({ ...NM }))).toBe(401);
  });
});
