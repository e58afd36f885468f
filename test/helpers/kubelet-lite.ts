// kubelet-lite: runs the chart's rendered pod specs as podman containers on this machine, for tests.
// Each "node" is a long-running sandbox container whose network namespace the node's hostNetwork pods
// share, so two agents on two nodes can both listen on the chart's port. The node reaches the host
// through the podman bridge's gateway, where the test binds the API server front and the VES listener.
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { podman, podmanAsync } from "./image.ts";
import {
  type ContainerPlan,
  type HttpProbe,
  type PodPlan,
  PodSpecError,
  planPod,
} from "./kubelet-lite-spec.ts";

/** Where kubelet-lite's containers reach the API server, and what a pod's service account gets. */
export interface ApiAccess {
  host: string;
  port: number;
  /** PEM CA certificate of the API server's serving certificate (ca.crt in the pod). */
  ca: Buffer;
  /**
   * The token of a service account for a pod on `nodeName` (what the kubelet projects into the pod: bound to the
   * pod, so the API server knows the node it runs on).
   */
  tokenFor: (namespace: string, serviceAccount: string, nodeName: string) => string;
  /** A Secret's `data` (base64 values), or undefined when it does not exist. */
  secret: (namespace: string, name: string) => Record<string, string> | undefined;
}

/** A pod to run: the pod template of a rendered DaemonSet or Deployment, on one node. */
export interface PodRequest {
  template: { metadata?: { labels?: Record<string, string> }; spec?: unknown };
  nodeName: string;
  podName: string;
  namespace: string;
  api: ApiAccess;
}

/** One running container and what its probes say. */
export interface ContainerState {
  plan: ContainerPlan;
  ready: boolean;
  restarts: number;
  /** Bumped on every restart: the probe loops of an earlier run of the container stop. */
  run: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The address of the default podman bridge's gateway: where the host is, seen from a pod. */
export function bridgeGateway(): string {
  const gw = podman([
    "network",
    "inspect",
    "podman",
    "--format",
    "{{range .Subnets}}{{.Gateway}}{{end}}",
  ]).trim();
  if (!gw) throw new Error("podman's default network has no gateway");
  return gw;
}

/** A pod started by kubelet-lite. */
export class Pod {
  readonly containers = new Map<string, ContainerState>();
  #stopped = false;
  readonly #timers = new Set<NodeJS.Timeout>();

  readonly name: string;
  readonly plan: PodPlan;
  readonly #resolveIp: () => Promise<string>;
  /** The address probes reach the pod at (the node sandbox's for hostNetwork pods). */
  ip = "";

  constructor(name: string, plan: PodPlan, resolveIp: () => Promise<string>) {
    this.name = name;
    this.plan = plan;
    this.#resolveIp = resolveIp;
  }

  /** Runs the init containers to completion, in order, then starts the others and their probes. */
  async start(): Promise<void> {
    for (const c of this.plan.containers.filter((c) => c.init)) {
      await podmanAsync(["run", ...c.runArgs], { timeoutMs: 120_000 });
      await podmanAsync(["rm", c.containerName]);
    }
    for (const c of this.plan.containers.filter((c) => !c.init)) {
      await podmanAsync(["run", "--detach", ...c.runArgs]);
      this.ip = await this.#resolveIp();
      const state: ContainerState = { plan: c, ready: c.readiness === undefined, restarts: 0, run: 0 };
      this.containers.set(c.name, state);
      this.#probe(state);
    }
  }

  /** Starts the container's probe loops, as the kubelet does for each start of a container. */
  #probe(state: ContainerState): void {
    const { readiness, liveness } = state.plan;
    const run = state.run;
    const live = () => !this.#stopped && state.run === run;
    const after = (seconds: number, fn: () => void) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        fn();
      }, seconds * 1000);
      this.#timers.add(t);
    };
    const loop = (probe: HttpProbe, onResult: (ok: boolean) => Promise<void> | void) => {
      const tick = async () => {
        if (!live()) return;
        const ok = await fetch(`http://${this.ip}:${probe.port}${probe.path}`, {
          signal: AbortSignal.timeout(probe.timeoutSeconds * 1000),
        })
          .then(async (r) => {
            await r.body?.cancel();
            return r.status >= 200 && r.status < 400;
          })
          .catch(() => false);
        if (!live()) return;
        await onResult(ok);
        if (live()) after(probe.periodSeconds, tick);
      };
      after(probe.initialDelaySeconds, tick);
    };
    if (readiness) {
      let successes = 0;
      let failures = 0;
      loop(readiness, (ok) => {
        successes = ok ? successes + 1 : 0;
        failures = ok ? 0 : failures + 1;
        if (successes >= readiness.successThreshold) state.ready = true;
        if (failures >= readiness.failureThreshold) state.ready = false;
      });
    }
    if (liveness) {
      let failures = 0;
      loop(liveness, async (ok) => {
        failures = ok ? 0 : failures + 1;
        if (failures < liveness.failureThreshold) return;
        // As the kubelet does: a container that fails its liveness probe is killed and started again.
        failures = 0;
        await this.restart(state.plan.name);
      });
    }
  }

  /** Whether every container's readiness probe passes. */
  get ready(): boolean {
    return [...this.containers.values()].every((c) => c.ready);
  }

  /** Waits until the pod is ready; throws with the containers' logs after `ms`. */
  async waitReady(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!this.ready) {
      if (Date.now() > end)
        throw new Error(`pod ${this.name} not ready after ${ms} ms\n${await this.logs()}`);
      await sleep(250);
    }
  }

  /**
   * Stops a container (SIGTERM, then SIGKILL after the grace period) and starts it again in the same pod,
   * with the same volumes: a container restart, not a new pod. Its probes start over, initial delays included.
   */
  async restart(container: string): Promise<void> {
    const state = this.containers.get(container);
    if (!state) throw new Error(`pod ${this.name} has no container ${container}`);
    state.run++;
    state.ready = state.plan.readiness === undefined;
    state.restarts++;
    await podmanAsync(
      ["stop", "--time", String(this.plan.terminationGracePeriodSeconds), state.plan.containerName],
      { timeoutMs: (this.plan.terminationGracePeriodSeconds + 30) * 1000 },
    );
    await podmanAsync(["start", state.plan.containerName]);
    this.ip = await this.#resolveIp();
    this.#probe(state);
  }

  /** The last lines of every container's output (stdout and stderr). */
  async logs(tail = 60): Promise<string> {
    const out = await Promise.all(
      [...this.containers.values()].map(async (c) => {
        const text = await podmanAsync(["logs", "--tail", String(tail), c.plan.containerName], {
          withStderr: true,
        }).catch((err: unknown) => String(err));
        return `--- ${this.name}/${c.plan.name}\n${text}`;
      }),
    );
    return out.join("\n");
  }

  /** Stops probing (before the containers are removed, so that no probe restarts one). */
  stopProbes(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
  }
}

/** Settings of a KubeletLite. */
export interface KubeletLiteOptions {
  /** The image the node sandboxes run (any image with node in it; the test image). */
  sandboxImage: string;
  /** A directory for this run: pod volumes, service-account files, per-node host paths. */
  workDir: string;
  /** Labels every container with `vesmon-kubelet-lite=<runId>`, so close() removes exactly these. */
  runId: string;
  /** Host paths shared by every node (read from the real host); any other is kept apart per node. */
  sharedHostPaths?: string[];
}

/** Nodes as sandbox containers, and pods on them as podman containers. */
export class KubeletLite {
  readonly #opts: KubeletLiteOptions;
  readonly #nodes = new Map<string, { labels: Record<string, string>; sandbox: string }>();
  readonly #pods: Pod[] = [];

  constructor(opts: KubeletLiteOptions) {
    this.#opts = opts;
  }

  get #labels(): Record<string, string> {
    return { "vesmon-kubelet-lite": this.#opts.runId };
  }

  /** Starts a node: a sandbox container on the podman bridge whose network its hostNetwork pods join. */
  async addNode(name: string, labels: Record<string, string> = {}): Promise<void> {
    const sandbox = `vesmon-node-${this.#opts.runId}-${name}`;
    await podmanAsync([
      "run",
      "--detach",
      "--name",
      sandbox,
      "--pull=never",
      "--network",
      "podman",
      "--hostname",
      name,
      "--label",
      `vesmon-kubelet-lite=${this.#opts.runId}`,
      "--read-only",
      "--entrypoint",
      JSON.stringify([
        "node",
        "-e",
        "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 3600e3)",
      ]),
      this.#opts.sandboxImage,
    ]);
    this.#nodes.set(name, {
      labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", ...labels },
      sandbox,
    });
  }

  async #ipOf(container: string): Promise<string> {
    return (await podmanAsync(["inspect", "--format", "{{.NetworkSettings.IPAddress}}", container])).trim();
  }

  /** Plans and starts a pod on a node; refuses (PodSpecError) what its spec asks and kubelet-lite cannot do. */
  async runPod(req: PodRequest): Promise<Pod> {
    const node = this.#nodes.get(req.nodeName);
    if (!node) throw new Error(`no node ${req.nodeName}`);
    const podDir = join(this.#opts.workDir, "pods", req.podName);
    const nodeDir = join(this.#opts.workDir, "nodes", req.nodeName);
    const shared = this.#opts.sharedHostPaths ?? ["/proc", "/sys/fs/cgroup"];
    const spec = req.template.spec as { securityContext?: { fsGroup?: number } } | undefined;
    const fsGroup = spec?.securityContext?.fsGroup;
    // The users the images run as, read before planning (which is synchronous); an absent image is refused.
    const images = new Map<string, string>();
    const templateSpec = (isRecord(req.template.spec) ? req.template.spec : {}) as Record<string, unknown>;
    for (const c of [templateSpec.initContainers, templateSpec.containers].flatMap((l) =>
      Array.isArray(l) ? l : [],
    ))
      if (isRecord(c) && typeof c.image === "string" && !images.has(c.image)) {
        const user = await podmanAsync(["image", "inspect", "--format", "{{.Config.User}}", c.image]).catch(
          () => undefined,
        );
        if (user !== undefined) images.set(c.image, user.trim());
      }
    const plan = planPod(req.template.spec, {
      podName: req.podName,
      namespace: req.namespace,
      nodeName: req.nodeName,
      nodeLabels: node.labels,
      podNetwork: "podman",
      hostNetwork: `container:${node.sandbox}`,
      hostPath: (p) => (shared.includes(p) ? p : join(nodeDir, "root", p)),
      emptyDir: (volume) => {
        const dir = join(podDir, "volumes", volume);
        mkdirSync(dir, { recursive: true });
        chmodSync(dir, 0o777);
        return dir;
      },
      secretDir: (secretName, defaultMode) => {
        const data = req.api.secret(req.namespace, secretName);
        if (!data) return undefined;
        const dir = join(podDir, "secrets", secretName);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        for (const [key, value] of Object.entries(data)) {
          const file = join(dir, key);
          // Readable by the owner and the pod's fsGroup only, as defaultMode says.
          writeFileSync(file, Buffer.from(value, "base64"), { mode: defaultMode });
          chmodSync(file, defaultMode);
          if (fsGroup !== undefined) chownSync(file, 0, fsGroup);
        }
        return dir;
      },
      serviceAccountDir: (sa) => {
        const dir = join(podDir, "serviceaccount");
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "token"), req.api.tokenFor(req.namespace, sa, req.nodeName), { mode: 0o644 });
        writeFileSync(join(dir, "ca.crt"), req.api.ca, { mode: 0o644 });
        writeFileSync(join(dir, "namespace"), req.namespace, { mode: 0o644 });
        return dir;
      },
      apiServer: { host: req.api.host, port: req.api.port },
      imageUser: (image) => {
        const user = images.get(image);
        if (user === undefined)
          throw new PodSpecError("image", `${image} is not present and is never pulled`);
        return user;
      },
      labels: {
        ...this.#labels,
        "io.kubernetes.pod.name": req.podName,
        "io.kubernetes.pod.namespace": req.namespace,
      },
    });
    for (const dir of plan.existingDirectories)
      if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
        throw new PodSpecError("spec.volumes", `hostPath ${dir} is not a directory (type Directory)`);
    for (const dir of plan.directories) mkdirSync(dir, { recursive: true });
    const pod = new Pod(req.podName, plan, () =>
      this.#ipOf(
        plan.hostNetwork
          ? node.sandbox
          : (plan.containers.find((c) => !c.init) as ContainerPlan).containerName,
      ),
    );
    this.#pods.push(pod);
    await pod.start();
    return pod;
  }

  /**
   * Stops every pod and node sandbox this instance started (found by its run label), all at once, each
   * within its grace period; then removes podman's bridge if nothing else is on it, as a clean host had none.
   */
  async close(): Promise<void> {
    for (const pod of this.#pods) pod.stopProbes();
    const names = (
      await podmanAsync([
        "ps",
        "--all",
        "--format",
        "{{.Names}}",
        "--filter",
        `label=vesmon-kubelet-lite=${this.#opts.runId}`,
      ])
    )
      .split("\n")
      .filter(Boolean);
    const sandboxes = new Set([...this.#nodes.values()].map((n) => n.sandbox));
    const grace = Math.max(0, ...this.#pods.map((p) => p.plan.terminationGracePeriodSeconds));
    // The pods first: podman refuses to remove a sandbox whose network namespace a container still uses.
    for (const batch of [names.filter((n) => !sandboxes.has(n)), names.filter((n) => sandboxes.has(n))])
      if (batch.length)
        await podmanAsync(["rm", "--force", "--time", String(grace), ...batch], {
          timeoutMs: (grace + 60) * 1000,
        });
    if ((await podmanAsync(["ps", "--all", "--quiet"])).trim() === "")
      spawnSync("ip", ["link", "delete", "cni-podman0"], { stdio: "ignore" });
  }
}
