// The pure half of kubelet-lite: a pod spec from the rendered chart, checked field by field, turned into
// `podman run` arguments. Any field it does not know is refused, so the chart cannot drift away from what
// the containerised tests run.

/** A pod-spec field kubelet-lite does not understand or cannot honour; `path` names it (`containers[0].x`). */
export class PodSpecError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "PodSpecError";
    this.path = path;
  }
}

type Json = Record<string, unknown>;

/**
 * Fields that only steer scheduling or pulling; on one machine with the image already present they have no
 * effect, so they are accepted and ignored. Everything else below is acted on.
 */
const POD_FIELDS = new Set([
  "serviceAccountName",
  "automountServiceAccountToken",
  "hostNetwork",
  "dnsPolicy",
  "priorityClassName",
  "imagePullSecrets",
  "securityContext",
  "terminationGracePeriodSeconds",
  "initContainers",
  "containers",
  "volumes",
  "nodeSelector",
  "tolerations",
  "affinity",
]);
const POD_SECURITY_FIELDS = new Set(["runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "seccompProfile"]);
const CONTAINER_FIELDS = new Set([
  "name",
  "image",
  "imagePullPolicy",
  "command",
  "args",
  "env",
  "ports",
  "livenessProbe",
  "readinessProbe",
  "resources",
  "securityContext",
  "volumeMounts",
]);
const CONTAINER_SECURITY_FIELDS = new Set([
  "runAsUser",
  "runAsGroup",
  "runAsNonRoot",
  "allowPrivilegeEscalation",
  "readOnlyRootFilesystem",
  "capabilities",
  "seccompProfile",
  "privileged",
]);
const PROBE_FIELDS = new Set([
  "httpGet",
  "initialDelaySeconds",
  "periodSeconds",
  "timeoutSeconds",
  "failureThreshold",
  "successThreshold",
]);
const FIELD_REFS = new Set([
  "spec.nodeName",
  "metadata.name",
  "metadata.namespace",
  "spec.serviceAccountName",
]);
const DNS_POLICIES = new Set(["ClusterFirst", "ClusterFirstWithHostNet", "Default"]);

/** Where the service-account token, CA and namespace are mounted, as the kubelet does. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** What the node provides to a pod: who it is, where things live on the host, how it reaches the API. */
export interface PodContext {
  podName: string;
  namespace: string;
  nodeName: string;
  /** The node's labels, matched against nodeSelector. */
  nodeLabels: Record<string, string>;
  /** The podman network of pods without hostNetwork, and of pods with it (the node's own namespace). */
  podNetwork: string;
  hostNetwork: string;
  /** The host directory a hostPath volume's path stands for on this node. */
  hostPath: (path: string) => string;
  /** Host directory of an emptyDir volume of this pod. */
  emptyDir: (volume: string) => string;
  /** Host directory holding a Secret volume's files (with that mode), or undefined when it does not exist. */
  secretDir: (secretName: string, defaultMode: number) => string | undefined;
  /** Host directory with `token`, `ca.crt` and `namespace` for the pod's service account. */
  serviceAccountDir: (serviceAccount: string) => string;
  /** Address of the API server as the pod's containers reach it. */
  apiServer: { host: string; port: number };
  /** The user an image runs as when the pod does not say (`podman image inspect` .Config.User). */
  imageUser: (image: string) => string;
  /** Labels put on every container, so that a test can find and remove what it started. */
  labels: Record<string, string>;
}

/** An HTTP probe with its port resolved to a number. */
export interface HttpProbe {
  path: string;
  port: number;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  successThreshold: number;
}

/** One container of a pod, ready to run. */
export interface ContainerPlan {
  name: string;
  init: boolean;
  /** The podman container name, `k8s_<container>_<pod>_<namespace>`. */
  containerName: string;
  /** Arguments of `podman run` after `run` (without `--detach`). */
  runArgs: string[];
  readiness?: HttpProbe;
  liveness?: HttpProbe;
}

/** A pod ready to run: init containers first, in order, then the others. */
export interface PodPlan {
  hostNetwork: boolean;
  terminationGracePeriodSeconds: number;
  containers: ContainerPlan[];
  /** Host directories to create before the pod starts (hostPath DirectoryOrCreate, emptyDir). */
  directories: string[];
  /** Host directories that must exist already (hostPath Directory), or the pod does not start. */
  existingDirectories: string[];
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function fields(value: unknown, path: string, known: Set<string>): Json {
  if (!isObject(value)) throw new PodSpecError(path, "expected an object");
  for (const key of Object.keys(value))
    if (!known.has(key)) throw new PodSpecError(`${path}.${key}`, "field not understood by kubelet-lite");
  return value;
}

function list(value: unknown, path: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new PodSpecError(path, "expected a list");
  return value;
}

function str(value: unknown, path: string): string {
  if (typeof value !== "string") throw new PodSpecError(path, "expected a string");
  return value;
}

function int(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value)) throw new PodSpecError(path, "expected an integer");
  return value as number;
}

/** Kubernetes quantities in bytes (`256Mi`, `1G`, `1000`). */
export function parseQuantity(q: unknown, path: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q));
  if (!m) throw new PodSpecError(path, `quantity ${String(q)} not understood`);
  const units: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Math.round(Number(m[1]) * (m[2] ? (units[m[2]] as number) : 1));
}

/** CPU quantities in cores (`50m`, `1`, `0.5`). */
function parseCpu(q: unknown, path: string): number {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(String(q));
  if (!m) throw new PodSpecError(path, `cpu quantity ${String(q)} not understood`);
  return Number(m[1]) / (m[2] ? 1000 : 1);
}

function matchesNodeSelector(selector: unknown, labels: Record<string, string>): boolean {
  if (selector === undefined) return true;
  if (!isObject(selector)) throw new PodSpecError("spec.nodeSelector", "expected a map");
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

type Volume =
  | { kind: "host"; source: string; create: boolean }
  | { kind: "secret"; secretName: string; optional: boolean; defaultMode: number };

function volumes(
  spec: Json,
  ctx: PodContext,
  directories: string[],
  existing: string[],
): Map<string, Volume> {
  const out = new Map<string, Volume>();
  list(spec.volumes, "spec.volumes").forEach((raw, i) => {
    const path = `spec.volumes[${i}]`;
    const v = fields(raw, path, new Set(["name", "hostPath", "emptyDir", "secret"]));
    const name = str(v.name, `${path}.name`);
    if (v.hostPath !== undefined) {
      const hp = fields(v.hostPath, `${path}.hostPath`, new Set(["path", "type"]));
      const type = hp.type ?? "";
      if (type !== "" && type !== "Directory" && type !== "DirectoryOrCreate")
        throw new PodSpecError(`${path}.hostPath.type`, `type ${String(type)} not supported`);
      const source = ctx.hostPath(str(hp.path, `${path}.hostPath.path`));
      (type === "DirectoryOrCreate" ? directories : existing).push(source);
      out.set(name, { kind: "host", source, create: type === "DirectoryOrCreate" });
    } else if (v.emptyDir !== undefined) {
      // sizeLimit is enforced by eviction in a kubelet; here it is read (and must parse) but not enforced.
      const ed = fields(v.emptyDir, `${path}.emptyDir`, new Set(["sizeLimit"]));
      if (ed.sizeLimit !== undefined) parseQuantity(ed.sizeLimit, `${path}.emptyDir.sizeLimit`);
      const source = ctx.emptyDir(name);
      directories.push(source);
      out.set(name, { kind: "host", source, create: true });
    } else if (v.secret !== undefined) {
      const s = fields(v.secret, `${path}.secret`, new Set(["secretName", "optional", "defaultMode"]));
      out.set(name, {
        kind: "secret",
        secretName: str(s.secretName, `${path}.secret.secretName`),
        optional: s.optional === true,
        defaultMode: int(s.defaultMode, `${path}.secret.defaultMode`, 0o644),
      });
    } else throw new PodSpecError(path, "volume source not supported (hostPath, emptyDir, secret)");
  });
  return out;
}

function probe(raw: unknown, path: string, ports: Map<string, number>): HttpProbe | undefined {
  if (raw === undefined) return undefined;
  const p = fields(raw, path, PROBE_FIELDS);
  if (p.httpGet === undefined) throw new PodSpecError(path, "only httpGet probes are supported");
  const get = fields(p.httpGet, `${path}.httpGet`, new Set(["path", "port", "scheme"]));
  if (get.scheme !== undefined && get.scheme !== "HTTP")
    throw new PodSpecError(`${path}.httpGet.scheme`, "only HTTP");
  const port = typeof get.port === "number" ? get.port : ports.get(str(get.port, `${path}.httpGet.port`));
  if (port === undefined)
    throw new PodSpecError(`${path}.httpGet.port`, `no container port ${String(get.port)}`);
  return {
    path: get.path === undefined ? "/" : str(get.path, `${path}.httpGet.path`),
    port,
    initialDelaySeconds: int(p.initialDelaySeconds, `${path}.initialDelaySeconds`, 0),
    periodSeconds: int(p.periodSeconds, `${path}.periodSeconds`, 10),
    timeoutSeconds: int(p.timeoutSeconds, `${path}.timeoutSeconds`, 1),
    failureThreshold: int(p.failureThreshold, `${path}.failureThreshold`, 3),
    successThreshold: int(p.successThreshold, `${path}.successThreshold`, 1),
  };
}

function envArgs(raw: unknown, path: string, spec: Json, ctx: PodContext): string[] {
  const fieldValues: Record<string, string> = {
    "spec.nodeName": ctx.nodeName,
    "metadata.name": ctx.podName,
    "metadata.namespace": ctx.namespace,
    "spec.serviceAccountName":
      typeof spec.serviceAccountName === "string" ? spec.serviceAccountName : "default",
  };
  return list(raw, path).flatMap((e, i) => {
    const p = `${path}[${i}]`;
    const env = fields(e, p, new Set(["name", "value", "valueFrom"]));
    const name = str(env.name, `${p}.name`);
    if (env.valueFrom === undefined)
      return ["--env", `${name}=${env.value === undefined ? "" : str(env.value, `${p}.value`)}`];
    const from = fields(env.valueFrom, `${p}.valueFrom`, new Set(["fieldRef"]));
    const ref = fields(from.fieldRef, `${p}.valueFrom.fieldRef`, new Set(["fieldPath", "apiVersion"]));
    const fieldPath = str(ref.fieldPath, `${p}.valueFrom.fieldRef.fieldPath`);
    if (!FIELD_REFS.has(fieldPath))
      throw new PodSpecError(`${p}.valueFrom.fieldRef.fieldPath`, `${fieldPath} not supported`);
    return ["--env", `${name}=${fieldValues[fieldPath]}`];
  });
}

function securityArgs(raw: unknown, path: string, pod: Json, image: string, ctx: PodContext): string[] {
  const sc = raw === undefined ? {} : fields(raw, path, CONTAINER_SECURITY_FIELDS);
  const args: string[] = [];
  const uid = sc.runAsUser ?? pod.runAsUser;
  const gid = sc.runAsGroup ?? pod.runAsGroup;
  const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
  // As the kubelet does: runAsNonRoot with no uid in the spec checks the image's user, which must be numeric.
  const effective = uid === undefined ? ctx.imageUser(image).split(":")[0] || "0" : String(uid);
  if (nonRoot === true && (!/^\d+$/.test(effective) || Number(effective) === 0))
    throw new PodSpecError(
      `${path}.runAsNonRoot`,
      `container would run as ${JSON.stringify(effective)}, not a non-root uid`,
    );
  if (uid !== undefined) args.push("--user", gid === undefined ? String(uid) : `${uid}:${gid}`);
  if (pod.fsGroup !== undefined) args.push("--group-add", String(pod.fsGroup));
  if (sc.allowPrivilegeEscalation === false) args.push("--security-opt", "no-new-privileges");
  if (sc.privileged === true) args.push("--privileged");
  // --read-only-tmpfs=false: podman would otherwise put tmpfs on /tmp, /run and /var/tmp, which a
  // Kubernetes container does not get; the pod spec must mount what it writes to.
  if (sc.readOnlyRootFilesystem === true) args.push("--read-only", "--read-only-tmpfs=false");
  if (sc.capabilities !== undefined) {
    const caps = fields(sc.capabilities, `${path}.capabilities`, new Set(["drop", "add"]));
    for (const c of list(caps.drop, `${path}.capabilities.drop`))
      args.push("--cap-drop", str(c, path).toLowerCase());
    for (const c of list(caps.add, `${path}.capabilities.add`))
      args.push("--cap-add", str(c, path).toLowerCase());
  }
  const seccomp = sc.seccompProfile ?? pod.seccompProfile;
  if (seccomp !== undefined) {
    const s = fields(seccomp, `${path}.seccompProfile`, new Set(["type"]));
    // RuntimeDefault is podman's default profile; Unconfined turns it off.
    if (s.type === "Unconfined") args.push("--security-opt", "seccomp=unconfined");
    else if (s.type !== "RuntimeDefault")
      throw new PodSpecError(`${path}.seccompProfile.type`, `${String(s.type)} not supported`);
  }
  return args;
}

function resourceArgs(raw: unknown, path: string): string[] {
  if (raw === undefined) return [];
  const r = fields(raw, path, new Set(["requests", "limits"]));
  // Requests only steer scheduling; limits are what the runtime enforces.
  if (r.requests !== undefined) fields(r.requests, `${path}.requests`, new Set(["cpu", "memory"]));
  if (r.limits === undefined) return [];
  const limits = fields(r.limits, `${path}.limits`, new Set(["cpu", "memory"]));
  const args: string[] = [];
  if (limits.memory !== undefined)
    args.push("--memory", String(parseQuantity(limits.memory, `${path}.limits.memory`)));
  if (limits.cpu !== undefined) args.push("--cpus", String(parseCpu(limits.cpu, `${path}.limits.cpu`)));
  return args;
}

function containerPlan(
  raw: unknown,
  path: string,
  init: boolean,
  pod: Json,
  vols: Map<string, Volume>,
  ctx: PodContext,
  network: string,
): ContainerPlan {
  const c = fields(raw, path, CONTAINER_FIELDS);
  const name = str(c.name, `${path}.name`);
  const image = str(c.image, `${path}.image`);
  const pull = c.imagePullPolicy ?? "IfNotPresent";
  // Nothing is pulled: the image must be present, which IfNotPresent and Never both accept.
  if (pull !== "IfNotPresent" && pull !== "Never")
    throw new PodSpecError(`${path}.imagePullPolicy`, `${String(pull)}: images are never pulled here`);
  const ports = new Map<string, number>();
  list(c.ports, `${path}.ports`).forEach((p, i) => {
    const port = fields(p, `${path}.ports[${i}]`, new Set(["name", "containerPort", "protocol"]));
    if (port.name !== undefined)
      ports.set(
        str(port.name, `${path}.ports[${i}].name`),
        int(port.containerPort, `${path}.ports[${i}]`, 0),
      );
  });
  if (init && (c.livenessProbe !== undefined || c.readinessProbe !== undefined))
    throw new PodSpecError(path, "init containers take no probes");
  const podSc =
    pod.securityContext === undefined
      ? {}
      : fields(pod.securityContext, "spec.securityContext", POD_SECURITY_FIELDS);
  const containerName = `k8s_${name}_${ctx.podName}_${ctx.namespace}`;
  const args = [
    "--name",
    containerName,
    "--pull=never",
    "--network",
    network,
    "--hostname",
    pod.hostNetwork === true ? ctx.nodeName : ctx.podName,
    ...Object.entries(ctx.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    ...securityArgs(c.securityContext, `${path}.securityContext`, podSc, image, ctx),
    ...resourceArgs(c.resources, `${path}.resources`),
    "--env",
    `KUBERNETES_SERVICE_HOST=${ctx.apiServer.host}`,
    "--env",
    `KUBERNETES_SERVICE_PORT=${ctx.apiServer.port}`,
    ...envArgs(c.env, `${path}.env`, pod, ctx),
  ];
  if (pod.automountServiceAccountToken !== false) {
    const sa = typeof pod.serviceAccountName === "string" ? pod.serviceAccountName : "default";
    args.push("--volume", `${ctx.serviceAccountDir(sa)}:${SERVICE_ACCOUNT_DIR}:ro`);
  }
  list(c.volumeMounts, `${path}.volumeMounts`).forEach((m, i) => {
    const p = `${path}.volumeMounts[${i}]`;
    const mount = fields(m, p, new Set(["name", "mountPath", "readOnly"]));
    const volName = str(mount.name, `${p}.name`);
    const vol = vols.get(volName);
    if (!vol) throw new PodSpecError(`${p}.name`, `no volume ${volName}`);
    const target = str(mount.mountPath, `${p}.mountPath`);
    const source = vol.kind === "host" ? vol.source : ctx.secretDir(vol.secretName, vol.defaultMode);
    if (source === undefined) {
      if (vol.kind === "secret" && !vol.optional)
        throw new PodSpecError(`${p}.name`, `secret ${vol.secretName} does not exist`);
      return;
    }
    const ro = mount.readOnly === true || vol.kind === "secret";
    args.push("--volume", `${source}:${target}${ro ? ":ro" : ""}`);
  });
  const command = list(c.command, `${path}.command`).map((s, i) => str(s, `${path}.command[${i}]`));
  if (command.length) args.push("--entrypoint", JSON.stringify(command));
  args.push(image, ...list(c.args, `${path}.args`).map((s, i) => str(s, `${path}.args[${i}]`)));
  const readiness = probe(c.readinessProbe, `${path}.readinessProbe`, ports);
  const liveness = probe(c.livenessProbe, `${path}.livenessProbe`, ports);
  return {
    name,
    init,
    containerName,
    runArgs: args,
    ...(readiness ? { readiness } : {}),
    ...(liveness ? { liveness } : {}),
  };
}

/**
 * Checks a pod template's spec and turns it into podman runs. Throws PodSpecError on the first field it does
 * not understand, on a value it cannot honour, and when the pod could not run on this node (nodeSelector,
 * runAsNonRoot against the image's user, a required Secret that does not exist).
 */
export function planPod(podSpec: unknown, ctx: PodContext): PodPlan {
  const spec = fields(podSpec, "spec", POD_FIELDS);
  if (!matchesNodeSelector(spec.nodeSelector, ctx.nodeLabels))
    throw new PodSpecError("spec.nodeSelector", `node ${ctx.nodeName} does not match`);
  if (spec.dnsPolicy !== undefined && !DNS_POLICIES.has(String(spec.dnsPolicy)))
    throw new PodSpecError("spec.dnsPolicy", `${String(spec.dnsPolicy)} not supported`);
  const directories: string[] = [];
  const existingDirectories: string[] = [];
  const vols = volumes(spec, ctx, directories, existingDirectories);
  const hostNetwork = spec.hostNetwork === true;
  const network = hostNetwork ? ctx.hostNetwork : ctx.podNetwork;
  const containers = [
    ...list(spec.initContainers, "spec.initContainers").map((c, i) =>
      containerPlan(c, `spec.initContainers[${i}]`, true, spec, vols, ctx, network),
    ),
    ...list(spec.containers, "spec.containers").map((c, i) =>
      containerPlan(c, `spec.containers[${i}]`, false, spec, vols, ctx, network),
    ),
  ];
  if (!containers.some((c) => !c.init)) throw new PodSpecError("spec.containers", "no containers");
  return {
    hostNetwork,
    terminationGracePeriodSeconds: int(
      spec.terminationGracePeriodSeconds,
      "spec.terminationGracePeriodSeconds",
      30,
    ),
    containers,
    directories,
    existingDirectories,
  };
}
