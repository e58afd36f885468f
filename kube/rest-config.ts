import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isIPv6 } from "node:net";
import { dirname, join, resolve } from "node:path";

/** Where the agent's API server is and how the agent proves who it is (see KubeRestClient). */
export interface RestConfig {
  /** e.g. `https://10.96.0.1:443`; a path after the host is kept as a prefix of every request. */
  server: string;
  /** PEM certificates the server's must chain to, instead of the system's roots. */
  ca?: Buffer;
  /** Do not verify the server's certificate (`insecure-skip-tls-verify`). */
  insecureSkipTLSVerify?: boolean;
  /** The name the server's certificate must carry when the server's host is not it (`tls-server-name`). */
  tlsServerName?: string;
  /** A PEM client certificate and its key. */
  cert?: Buffer;
  key?: Buffer;
  /** A bearer token. */
  token?: string;
  /** A file holding the bearer token, read again when it changes (bound service-account tokens rotate). */
  tokenFile?: string;
  /** The context's namespace, or the pod's. */
  namespace?: string;
}

/** A kubeconfig or in-cluster setting the agent cannot use; the message names the file and the field. */
export class RestConfigError extends Error {
  override name = "RestConfigError";
}

/** Where a pod's service account is mounted. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * The pod's service account, as client-go's `InClusterConfig`: KUBERNETES_SERVICE_HOST and _PORT, the
 * mounted `ca.crt`, `token` (as a token file, so a rotated token is picked up) and `namespace`.
 * `dir` and `env` are parameters for tests.
 */
export function loadInCluster(opts: { dir?: string; env?: NodeJS.ProcessEnv } = {}): RestConfig {
  const env = opts.env ?? process.env;
  const dir = opts.dir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new RestConfigError(
      "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (or give --kubeconfig)",
    );
  let ca: Buffer;
  try {
    ca = readFileSync(join(dir, "ca.crt"));
  } catch (err) {
    throw new RestConfigError(`cannot read the service account's CA: ${(err as Error).message}`);
  }
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, "namespace"), "utf8").trim() || undefined;
  } catch {
    // Optional, as for client-go: nothing the agent requests is namespaced by default.
  }
  return {
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    ca,
    tokenFile: join(dir, "token"),
    ...(namespace ? { namespace } : {}),
  };
}

type Entry = Record<string, unknown>;

/** Kubeconfig user fields that need a client-node-sized client: exec plugins, OIDC/cloud providers, basic auth, impersonation. */
const REFUSED_USER_FIELDS = [
  "exec",
  "auth-provider",
  "username",
  "password",
  "as",
  "as-uid",
  "as-groups",
  "as-user-extra",
];
const REFUSED_CLUSTER_FIELDS = ["proxy-url"];

/** The agent's API access: the kubeconfig file when one is given, the pod's service account otherwise. */
export async function loadRestConfig(kubeconfig?: string): Promise<RestConfig> {
  return kubeconfig ? loadKubeconfig(kubeconfig) : loadInCluster();
}

/** Reads a kubeconfig file, YAML or JSON; see parseKubeconfig. */
export async function loadKubeconfig(file: string): Promise<RestConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new RestConfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    // JSON (client-node's exportConfig, `kubectl config view -o json`) is YAML too, and needs no YAML parser:
    // the yaml package holds ~13 MiB of RSS once loaded, and modules are never unloaded.
    doc = JSON.parse(text);
  } catch {
    try {
      doc = (await import("yaml")).parse(text);
    } catch (err) {
      // Only where: the parser's message quotes the line, which may hold a token.
      const pos = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
      throw new RestConfigError(
        `kubeconfig ${file}: not YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ""}`,
      );
    }
  }
  return parseKubeconfig(doc, file);
}

/**
 * The current context of a kubeconfig: its cluster's `server`, `certificate-authority(-data)`,
 * `insecure-skip-tls-verify` and `tls-server-name`; its user's `token`, `tokenFile` (preferred over `token`,
 * as in client-go) and `client-certificate(-data)`/`client-key(-data)`; its namespace. Relative file paths
 * are taken from the kubeconfig's directory. Exec plugins, auth providers, basic auth, impersonation and
 * proxies are refused with an error naming the field, rather than run without them. `doc` is the parsed
 * file; `file` names it in errors and anchors its relative paths.
 */
export function parseKubeconfig(doc: unknown, file: string): RestConfig {
  const fail = (what: string) => new RestConfigError(`kubeconfig ${file}: ${what}`);
  const root = (doc ?? {}) as Entry;
  const current = root["current-context"];
  if (typeof current !== "string" || !current) throw fail("no current-context");
  const find = (list: string, name: unknown, field: string): Entry => {
    const items = Array.isArray(root[list]) ? (root[list] as Entry[]) : [];
    const found = items.find((i) => i?.name === name)?.[field];
    if (!found || typeof found !== "object") throw fail(`${list}: no ${field} named "${String(name)}"`);
    return found as Entry;
  };
  const context = find("contexts", current, "context");
  const cluster = find("clusters", context.cluster, "cluster");
  const user = context.user === undefined ? {} : find("users", context.user, "user");
  const clusterAt = `clusters[name="${context.cluster}"].cluster`;
  const userAt = `users[name="${context.user}"].user`;
  for (const f of REFUSED_CLUSTER_FIELDS)
    if (cluster[f] !== undefined) throw fail(`${clusterAt}.${f} is not supported by the agent's client`);
  for (const f of REFUSED_USER_FIELDS)
    if (user[f] !== undefined)
      throw fail(
        `${userAt}.${f} is not supported by the agent's client; use a token, tokenFile or a client certificate`,
      );
  const str = (o: Entry, f: string) => (typeof o[f] === "string" && o[f] ? (o[f] as string) : undefined);
  const base = dirname(resolve(file));
  // A file or inline base64 data, as kubeconfig allows for each of the three PEM fields.
  const pem = (o: Entry, f: string, where: string): Buffer | undefined => {
    const data = str(o, `${f}-data`);
    if (data) return Buffer.from(data, "base64");
    const path = str(o, f);
    if (!path) return undefined;
    try {
      return readFileSync(resolve(base, path));
    } catch (err) {
      throw fail(`${where}.${f}: ${(err as Error).message}`);
    }
  };
  const server = str(cluster, "server");
  if (!server || !/^https?:\/\//.test(server)) throw fail(`${clusterAt}.server must be an http(s) URL`);
  const ca = pem(cluster, "certificate-authority", clusterAt);
  const cert = pem(user, "client-certificate", userAt);
  const key = pem(user, "client-key", userAt);
  if ((cert === undefined) !== (key === undefined))
    throw fail(`${userAt}: client-certificate and client-key go together`);
  const tokenFile = str(user, "tokenFile");
  const token = str(user, "token");
  const namespace = str(context, "namespace");
  const tlsServerName = str(cluster, "tls-server-name");
  return {
    server,
    ...(ca ? { ca } : {}),
    ...(cluster["insecure-skip-tls-verify"] === true ? { insecureSkipTLSVerify: true } : {}),
    ...(tlsServerName ? { tlsServerName } : {}),
    ...(cert && key ? { cert, key } : {}),
    ...(tokenFile ? { tokenFile: resolve(base, tokenFile) } : token ? { token } : {}),
    ...(namespace ? { namespace } : {}),
  };
}
