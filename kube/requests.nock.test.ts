import { KubeConfig } from "@kubernetes/client-node";
import nock from "nock";
import { afterEach, beforeAll, describe, it } from "vitest";
import { patchStatus, serverSideApply } from "./apply.ts";
import { clientNodeWatcher } from "./client-node-api.ts";
import { apiLister, type KubeObject, Reflector } from "./reflector.ts";
import { KubeRestClient } from "./rest-client.ts";
import { patchStatusWith } from "./status-patch.ts";

// nock pins the exact requests the code makes: paths, query strings and content types.
const SERVER = "https://k8s.test";
const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: "c", server: SERVER, skipTLSVerify: true }],
  users: [{ name: "u", token: "t0ken" }],
  contexts: [{ name: "x", cluster: "c", user: "u" }],
  currentContext: "x",
});
const rest = new KubeRestClient({ server: SERVER, insecureSkipTLSVerify: true, token: "t0ken" });

beforeAll(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
});

const BOOKMARK = `${JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "12" } } })}\n`;

/** Runs a reflector until the server saw every request it expects. */
async function runUntilDone(r: Reflector<KubeObject>, scope: nock.Scope) {
  r.start(() => {});
  await r.synced;
  const end = Date.now() + 5000;
  while (!scope.isDone() && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
  r.stop();
  scope.done();
}

const discovery = {
  kind: "APIResourceList",
  apiVersion: "v1",
  groupVersion: "vesmon.io/v1alpha1",
  resources: [
    {
      name: "nodemonitors",
      singularName: "nodemonitor",
      namespaced: false,
      kind: "NodeMonitor",
      verbs: ["get", "list", "watch", "patch"],
    },
  ],
};

// nock 15 hands reply callbacks (uri, body) only, so headers and queries are pinned with matchers: a request
// that differs in any of them matches nothing and fails the call, and scope.done() fails on a missing one.
describe("requests the runtime makes", () => {
  it("server-side apply: PATCH with apply-patch+yaml, the field manager and force, without resourceVersion", async () => {
    const scope = nock(SERVER)
      .get("/apis/vesmon.io/v1alpha1")
      .reply(200, discovery)
      .patch(
        "/apis/vesmon.io/v1alpha1/nodemonitors/n1",
        (body) => !JSON.stringify(body).includes("resourceVersion"),
      )
      .query({ fieldManager: "vesmon-operator", force: "true" })
      .matchHeader("content-type", "application/apply-patch+yaml")
      .matchHeader("authorization", "Bearer t0ken")
      .reply(200, {
        apiVersion: "vesmon.io/v1alpha1",
        kind: "NodeMonitor",
        metadata: { name: "n1", resourceVersion: "5" },
      });
    await serverSideApply(
      kc,
      {
        apiVersion: "vesmon.io/v1alpha1",
        kind: "NodeMonitor",
        metadata: { name: "n1", resourceVersion: "4" },
      } as never,
      {
        fieldManager: "vesmon-operator",
        force: true,
      },
    );
    scope.done();
  });

  it("status writes: a JSON patch replacing /status, to the status subresource", async () => {
    const scope = nock(SERVER)
      .patch("/apis/vesmon.io/v1alpha1/nodemonitors/n1/status", [
        { op: "add", path: "/status", value: { observedGeneration: 3 } },
      ])
      .matchHeader("content-type", "application/json-patch+json")
      .reply(200, {});
    await patchStatus(
      kc,
      { group: "vesmon.io", version: "v1alpha1", plural: "nodemonitors", name: "n1" },
      { observedGeneration: 3 },
    );
    scope.done();
  });

  it("the reflector: a watch from the list's resourceVersion, with bookmarks and the same selector", async () => {
    const scope = nock(SERVER)
      .get("/apis/vesmon.io/v1alpha1/nodemonitors")
      .query({
        allowWatchBookmarks: "true",
        fieldSelector: "metadata.name=n1",
        resourceVersion: "10",
        timeoutSeconds: "300",
        watch: "true",
      })
      .reply(200, BOOKMARK);
    const r = new Reflector<KubeObject>({
      watcher: clientNodeWatcher(kc),
      path: "/apis/vesmon.io/v1alpha1/nodemonitors",
      fieldSelector: "metadata.name=n1",
      list: async () => ({ items: [], resourceVersion: "10" }),
      random: () => 0,
      timeoutSeconds: 300,
    });
    await runUntilDone(r, scope);
  });

  it("the agent's status writes: the same JSON patch, with its field manager, from its own client", async () => {
    const scope = nock(SERVER)
      .patch("/apis/vesmon.io/v1alpha1/nodemonitors/n1/status", [
        { op: "add", path: "/status", value: { observedGeneration: 3 } },
      ])
      .query({ fieldManager: "vesmon-agent" })
      .matchHeader("content-type", "application/json-patch+json")
      .matchHeader("authorization", "Bearer t0ken")
      .reply(200, {});
    await patchStatusWith(
      rest,
      { group: "vesmon.io", version: "v1alpha1", plural: "nodemonitors", name: "n1" },
      { observedGeneration: 3 },
      { fieldManager: "vesmon-agent" },
    );
    scope.done();
  });

  it("the agent's reflector: a metadata-only list, then a watch from its resourceVersion with the same selectors", async () => {
    const query = { fieldSelector: "spec.nodeName=n1", labelSelector: "kubevirt.io=virt-launcher" };
    const scope = nock(SERVER)
      .get("/api/v1/pods")
      .query(query)
      .matchHeader("accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
      .matchHeader("authorization", "Bearer t0ken")
      .reply(200, { items: [], metadata: { resourceVersion: "10" } })
      .get("/api/v1/pods")
      .query({
        ...query,
        allowWatchBookmarks: "true",
        resourceVersion: "10",
        timeoutSeconds: "300",
        watch: "true",
      })
      .matchHeader("accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
      .matchHeader("authorization", "Bearer t0ken")
      .reply(200, BOOKMARK);
    const r = new Reflector<KubeObject>({
      watcher: rest,
      path: "/api/v1/pods",
      ...query,
      accept: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
      list: apiLister(rest, "/api/v1/pods", {
        ...query,
        accept: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
      }),
      random: () => 0,
      timeoutSeconds: 300,
    });
    await runUntilDone(r, scope);
  });
});
