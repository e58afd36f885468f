import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { realTimers } from "../kube/timers.ts";
import { node, until } from "../test/fake-apiserver/fixtures.ts";
import { FakeApiServer, type K8sObject } from "../test/fake-apiserver/index.ts";
import { Controller } from "./controller.ts";

// Which Secrets reach the agents: only those labelled vesmon.io/credentials=true, never the managed Secret,
// and never so many that the managed Secret passes kube-apiserver's 1 MiB limit. A profile whose credentials
// cannot be copied is refused on its own; the others' NodeMonitors are written regardless.
const NS = "vesmon-system";
const MANAGED = "vesmon-agent-credentials";
let api: FakeApiServer;
let controller: Controller;
afterEach(async () => {
  await controller?.stop();
  await api?.close();
});

const secret = (name: string, bytes: number, labelled: boolean): K8sObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace: NS, ...(labelled ? { labels: { "vesmon.io/credentials": "true" } } : {}) },
  data: {
    username: Buffer.from("user").toString("base64"),
    password: Buffer.alloc(bytes, 7).toString("base64"),
  },
});

const profile = (name: string, secretName?: string): K8sObject => ({
  apiVersion: "vesmon.io/v1alpha1",
  kind: "MonitoringProfile",
  metadata: { name },
  spec: {
    collectors: [{ name: "cpu", interval: "10s" }],
    sinks: secretName
      ? [
          {
            name: "ves",
            ves: { url: "https://ves.example:8443", credentialsSecretRef: { name: secretName } },
          },
        ]
      : [{ name: "console", stdout: {} }],
  },
});

async function start(objects: K8sObject[]) {
  api = new FakeApiServer();
  await api.start();
  api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  api.create(node("n1"));
  for (const o of objects) api.create(o);
  controller = new Controller({
    kubeConfig: api.kubeConfig(),
    namespace: NS,
    timers: realTimers,
    log: pino({ level: "silent" }),
  });
  await controller.start();
  void controller.run();
}

const accepted = (name: string) =>
  (
    api.get("vesmon.io/v1alpha1", "MonitoringProfile", name) as {
      status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
    }
  ).status?.conditions?.find((c) => c.type === "Accepted");
const onNode = () =>
  (
    (api.get("vesmon.io/v1alpha1", "NodeMonitor", "n1") as { spec?: { profiles?: { name: string }[] } })?.spec
      ?.profiles ?? []
  ).map((p) => p.name);
const managedKeys = () => Object.keys((api.get("v1", "Secret", MANAGED, NS)?.data as object) ?? {}).sort();

describe("credentials copied to the agents", () => {
  it("refuses a Secret without the opt-in label, and the managed Secret itself, in Accepted", async () => {
    await start([
      secret("helm-release", 10, false),
      secret("ves-auth", 10, true),
      profile("steal", "helm-release"),
      profile("loop", MANAGED),
      profile("good", "ves-auth"),
    ]);
    await until(() => accepted("steal") !== undefined && accepted("loop") !== undefined, 10_000);
    expect(accepted("steal")).toMatchObject({ status: "False", reason: "SecretNotLabelled" });
    expect(accepted("steal")!.message).toContain('Secret "helm-release"');
    expect(accepted("steal")!.message).toContain('vesmon.io/credentials: "true"');
    expect(accepted("loop")).toMatchObject({ status: "False", reason: "SecretNotAllowed" });
    await until(() => onNode().includes("good"), 10_000);
    expect(onNode()).toEqual(["good"]);
    expect(managedKeys()).toEqual(["ves-auth__password", "ves-auth__username"]);
  });

  it("keeps the managed Secret under 1 MiB by refusing the profile that would overflow it, and writes the NodeMonitors", async () => {
    await start([
      secret("big-a", 600 * 1024, true),
      secret("big-b", 600 * 1024, true),
      profile("a", "big-a"),
      profile("b", "big-b"),
      profile("plain"),
    ]);
    await until(() => onNode().includes("plain"), 10_000);
    await until(() => accepted("b")?.status === "False", 10_000);
    // Accepted once the render pass has taken it in, with its credentials written.
    await until(() => accepted("a")?.status === "True", 10_000);
    expect(accepted("b")).toMatchObject({ reason: "CredentialsTooLarge" });
    expect(accepted("b")!.message).toMatch(/big-b.*1048576 bytes/);
    expect(onNode()).toEqual(["a", "plain"]);
    expect(managedKeys()).toEqual(["big-a__password", "big-a__username"]);
    // No write the API server refuses was tried.
    const refused = api.requests.filter(
      (r) => r.method === "PATCH" && r.path.endsWith(`/secrets/${MANAGED}`),
    );
    expect(refused.length).toBe(1);
  });

  it("a failing Secret write holds back only the profiles whose credentials are not written yet", async () => {
    await start([secret("ves-auth", 10, true), profile("a", "ves-auth"), profile("plain")]);
    await until(() => onNode().includes("a") && onNode().includes("plain"), 10_000);
    // From here on every write of the managed Secret fails: a new labelled Secret cannot be copied.
    api.failNext("PATCH", new RegExp(`/secrets/${MANAGED}$`), 500, 1000);
    api.create(secret("ves-auth-2", 10, true));
    api.create(profile("b", "ves-auth-2"));
    // The Secret and the profile come through separate watches, in no set order (as from kube-apiserver): the
    // profile may first be refused for a Secret not seen yet (SecretMissing), then held back for the failing write.
    await until(() => accepted("b")?.reason === "CredentialsNotWritten", 10_000);
    expect(accepted("b")).toMatchObject({ status: "False", reason: "CredentialsNotWritten" });
    expect(accepted("b")!.message).toContain('"ves-auth-2"');
    await until(() => accepted("a")?.status === "True", 10_000);
    expect(onNode()).toEqual(["a", "plain"]);
  });
});
