import { once } from "node:events";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeMonitor } from "../test/fake-apiserver/fixtures.ts";
import { FakeApiServer } from "../test/fake-apiserver/index.ts";
import { ApiServerFront } from "../test/helpers/apiserver-front.ts";
import { makeTestPki, type TestPki } from "../test/helpers/tls.ts";
import { apiLister, type KubeObject, Reflector, type ReflectorEvent } from "./reflector.ts";
import { KubeRestClient } from "./rest-client.ts";
import { loadInCluster, loadKubeconfig } from "./rest-config.ts";

// The agent's client as a pod uses it: HTTPS with the mounted CA and a rotating service-account token, or a
// kubeconfig's client certificate.
let pki: TestPki;
let dir: string;
beforeAll(async () => {
  pki = await makeTestPki();
  dir = await mkdtemp(join(tmpdir(), "vesmon-rest-tls-"));
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const until = async (check: () => boolean, what: string) => {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("in cluster, over HTTPS", () => {
  it("lists and watches with the mounted CA and token, and follows the token when the kubelet rotates it", async () => {
    const api = new FakeApiServer();
    await api.start();
    const tokens = new Set(["token-1"]);
    // The front checks the token; behind it both are the admin.
    for (const t of ["token-1", "token-2"])
      api.addUser(t, { username: "system:admin", groups: ["system:masters"] });
    const front = new ApiServerFront({
      target: api.url,
      cert: pki.serverCert,
      key: pki.serverKey,
      acceptToken: (t) => tokens.has(t),
    });
    const port = await front.start("127.0.0.1");
    const sa = join(dir, "sa");
    await mkdir(sa);
    await writeFile(join(sa, "ca.crt"), pki.ca);
    await writeFile(join(sa, "token"), "token-1");
    const config = loadInCluster({
      dir: sa,
      env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(port) },
    });
    const client = new KubeRestClient(config, { tokenCheckMs: 0 });
    const path = "/apis/vesmon.io/v1alpha1/nodemonitors";
    const events: string[] = [];
    const reflector = new Reflector<KubeObject>({ watcher: client, path, list: apiLister(client, path) });
    try {
      api.create(nodeMonitor("n1"));
      reflector.start((e: ReflectorEvent<KubeObject>) => events.push(`${e.type} ${e.object.metadata.name}`));
      await reflector.synced;
      // The old token expires after the new one is mounted: only the new one is accepted from now on.
      await writeFile(join(sa, "token.new"), "token-2");
      await rename(join(sa, "token.new"), join(sa, "token"));
      tokens.add("token-2");
      tokens.delete("token-1");
      api.cutWatches();
      api.create(nodeMonitor("n2"));
      await until(() => events.includes("ADDED n2"), "the event after the rotation");
      expect(events).toEqual(["ADDED n1", "ADDED n2"]);
      expect(front.unauthorized).toBe(0);
    } finally {
      reflector.stop();
      client.close();
      await front.close();
      await api.close();
    }
  });
});

describe("a kubeconfig with a client certificate", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer(
      { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ user: peer.subject?.CN }));
      },
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const b64 = (b: Buffer) => b.toString("base64");
  const kubeconfig = async (cluster: string, user: string) => {
    const file = join(dir, "kubeconfig");
    await writeFile(
      file,
      `current-context: c
clusters: [{name: c, cluster: {server: "${url}", ${cluster}}}]
users: [{name: u, user: {${user}}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`,
    );
    return new KubeRestClient(await loadKubeconfig(file));
  };

  it("proves who it is with the certificate, and checks the server's against the kubeconfig's CA", async () => {
    const client = await kubeconfig(
      `certificate-authority-data: ${b64(pki.ca)}`,
      `client-certificate-data: ${b64(pki.clientCert)}, client-key-data: ${b64(pki.clientKey)}`,
    );
    expect(await client.request("GET", "/api")).toEqual({ user: "vesmon test client" });
    client.close();
  });

  it("refuses a server its CA does not vouch for, unless told to skip the check", async () => {
    const untrusting = await kubeconfig(
      "insecure-skip-tls-verify: false",
      `client-certificate-data: ${b64(pki.clientCert)}, client-key-data: ${b64(pki.clientKey)}`,
    );
    await expect(untrusting.request("GET", "/api")).rejects.toThrow(/certificate/);
    untrusting.close();
    const skipping = await kubeconfig(
      "insecure-skip-tls-verify: true",
      `client-certificate-data: ${b64(pki.clientCert)}, client-key-data: ${b64(pki.clientKey)}`,
    );
    expect(await skipping.request("GET", "/api")).toEqual({ user: "vesmon test client" });
    skipping.close();
  });
});
