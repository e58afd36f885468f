import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadInCluster, loadKubeconfig, RestConfigError } from "./rest-config.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vesmon-rest-config-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("loadInCluster", () => {
  const env = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };

  it("reads the service account's CA and namespace, and keeps the token as a file to read again", async () => {
    await writeFile(join(dir, "ca.crt"), "CA PEM");
    await writeFile(join(dir, "namespace"), "vesmon-system\n");
    await writeFile(join(dir, "token"), "secret");
    expect(loadInCluster({ dir, env })).toEqual({
      server: "https://10.96.0.1:443",
      ca: Buffer.from("CA PEM"),
      tokenFile: join(dir, "token"),
      namespace: "vesmon-system",
    });
  });

  it("puts an IPv6 service address in brackets, and needs no namespace file", async () => {
    await writeFile(join(dir, "ca.crt"), "CA PEM");
    const config = loadInCluster({
      dir,
      env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" },
    });
    expect(config.server).toBe("https://[fd00::1]:443");
    expect(config.namespace).toBeUndefined();
  });

  it("says what is missing outside a pod", async () => {
    expect(() => loadInCluster({ dir, env: {} })).toThrow(/KUBERNETES_SERVICE_HOST/);
    expect(() => loadInCluster({ dir, env })).toThrow(/service account's CA/);
  });
});

/** A kubeconfig with two contexts; the current one's user is `user`. */
function kubeconfig(user: string, cluster = "server: https://api.example:6443") {
  return `apiVersion: v1
kind: Config
current-context: work
clusters:
- name: other
  cluster: {server: "https://other:6443"}
- name: work
  cluster:
    ${cluster}
users:
- name: other
  user: {token: nope}
- name: me
  user:
    ${user}
contexts:
- name: other
  context: {cluster: other, user: other}
- name: work
  context: {cluster: work, user: me, namespace: monitoring}
`;
}

async function load(text: string) {
  const file = join(dir, "kubeconfig");
  await writeFile(file, text);
  return loadKubeconfig(file);
}

describe("loadKubeconfig", () => {
  it("takes the current context's cluster, user and namespace, with inline certificate data", async () => {
    const config = await load(
      kubeconfig(
        `{token: abc, client-certificate-data: ${b64("CERT")}, client-key-data: ${b64("KEY")}}`,
        `{server: "https://api.example:6443", certificate-authority-data: ${b64("CA")}, tls-server-name: api}`,
      ),
    );
    expect(config).toEqual({
      server: "https://api.example:6443",
      ca: Buffer.from("CA"),
      tlsServerName: "api",
      cert: Buffer.from("CERT"),
      key: Buffer.from("KEY"),
      token: "abc",
      namespace: "monitoring",
    });
  });

  it("reads certificate files and the token file relative to the kubeconfig's directory", async () => {
    await mkdir(join(dir, "pki"));
    await writeFile(join(dir, "pki/ca.crt"), "CA FILE");
    await writeFile(join(dir, "pki/me.crt"), "CERT FILE");
    await writeFile(join(dir, "pki/me.key"), "KEY FILE");
    const config = await load(
      kubeconfig(
        "{tokenFile: pki/token, token: ignored, client-certificate: pki/me.crt, client-key: pki/me.key}",
        "{server: 'https://api.example:6443', certificate-authority: pki/ca.crt}",
      ),
    );
    expect(config.ca).toEqual(Buffer.from("CA FILE"));
    expect(config.cert).toEqual(Buffer.from("CERT FILE"));
    expect(config.key).toEqual(Buffer.from("KEY FILE"));
    expect(config.tokenFile).toBe(join(dir, "pki/token"));
    expect(config.token).toBeUndefined();
  });

  it("reads the JSON client-node writes (the tests' kubeconfigs), skipping TLS verification as it says", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: "http://127.0.0.1:8080", skipTLSVerify: true }],
      users: [{ name: "fake", token: "fake" }],
      contexts: [{ name: "fake", cluster: "fake", user: "fake", namespace: "default" }],
      currentContext: "fake",
    });
    expect(await load(kc.exportConfig())).toEqual({
      server: "http://127.0.0.1:8080",
      insecureSkipTLSVerify: true,
      token: "fake",
      namespace: "default",
    });
  });

  it.each([
    ["exec", "exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}"],
    ["auth-provider", "auth-provider: {name: oidc, config: {client-id: x}}"],
    ["username", "{username: admin, password: pw}"],
    ["as", "{token: abc, as: someone}"],
  ])("refuses %s, naming the field", async (field, user) => {
    const err = await load(kubeconfig(user)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RestConfigError);
    expect((err as Error).message).toContain(`users[name="me"].user.${field} is not supported`);
    expect((err as Error).message).toContain(join(dir, "kubeconfig"));
  });

  it("refuses a proxy, and says what is missing or inconsistent", async () => {
    await expect(
      load(kubeconfig("{token: a}", "{server: 'https://a:6443', proxy-url: 'http://proxy:3128'}")),
    ).rejects.toThrow('clusters[name="work"].cluster.proxy-url is not supported');
    await expect(load(kubeconfig("{client-certificate-data: Q0VSVA==}"))).rejects.toThrow(
      "client-certificate and client-key go together",
    );
    await expect(load(kubeconfig("{token: a}").replace("current-context: work", ""))).rejects.toThrow(
      "no current-context",
    );
    await expect(
      load(kubeconfig("{token: a}").replace("current-context: work", "current-context: gone")),
    ).rejects.toThrow('contexts: no context named "gone"');
    await expect(load(kubeconfig("{token: a}", "{server: 'api.example:6443'}"))).rejects.toThrow(
      "server must be an http(s) URL",
    );
    await expect(load("clusters: [")).rejects.toThrow("not YAML");
    // The parser's message quotes the line; a token on it must not reach the log.
    const broken = load("users:\n- name: u\n  user: {token: s3cr3t-token\n");
    await expect(broken).rejects.toThrow(/not YAML \(line \d+, column \d+\)$/);
    await expect(broken).rejects.not.toThrow("s3cr3t");
    await expect(loadKubeconfig(join(dir, "absent"))).rejects.toThrow("cannot read kubeconfig");
  });
});
