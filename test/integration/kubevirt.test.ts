// KubeVirt nodes: one private libvirtd per VM, as each virt-launcher pod runs its own daemon, with each daemon's
// runtime directory placed where the kubelet keeps the pod's `libvirt-runtime` emptyDir under a temp host root,
// and matching virt-launcher pods on the fake API server. The agent (a real process) finds the daemons from the
// pods, names each VM by its VMI, and follows a daemon stopped, a pod deleted and a new pod started.
// Run under the libvirtd lock: flock /tmp/vesmon-libvirtd.lock npx vitest run test/integration/kubevirt.test.ts
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { libvirtRuntimeDir } from "../../agent/libvirt/discovery/kubelet-pods.ts";
import { ListenerProcess } from "../../agent/listener/process.ts";
import { schemaValidator } from "../../agent/listener/ves-validator.ts";
import { FakeApiServer } from "../fake-apiserver/index.ts";
import { startTinyGuests, type TinyGuests } from "../helpers/guests.ts";
import { type Libvirtd, startLibvirtd } from "../helpers/libvirtd.ts";

interface Recorded {
  event: {
    commonEventHeader: {
      domain: string;
      sourceName: string;
      sourceId?: string;
      startEpochMicrosec: number;
      lastEpochMicrosec: number;
    };
    measurementFields?: { additionalMeasurements?: { name: string; hashMap: Record<string, string> }[] };
    faultFields?: { eventSeverity: string; alarmCondition: string; specificProblem?: string };
  };
}

const NODE = "worker-1";
const NS = `kv${process.pid % 1000}`;
const daemons: Libvirtd[] = [];
const guests: TinyGuests[] = [];
let api: FakeApiServer;
let listener: ListenerProcess;
let agent: ChildProcess;
let root: string;
let stderr = "";

/** The VMI name of daemon `i`'s guest: its domain is `<NS>_<vmi>`, as KubeVirt names domains. */
const vmi = (i: number) => `vm${i}-0`;
const source = (i: number) => `${NS}/${vmi(i)}`;

/** A virt-launcher pod as KubeVirt makes it, owned by its VMI (pod 1 names it by label only). */
function launcher(i: number, suffix: string) {
  const owner = {
    apiVersion: "kubevirt.io/v1",
    kind: "VirtualMachineInstance",
    name: vmi(i),
    uid: `5d0b2f6e-0000-4000-8000-00000000000${i}`,
    controller: true,
  };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `virt-launcher-${vmi(i)}-${suffix}`,
      namespace: NS,
      labels: { "kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": vmi(i) },
      ...(i === 1 ? {} : { ownerReferences: [owner] }),
    },
    spec: { nodeName: NODE, containers: [{ name: "compute", image: "virt-launcher" }] },
  };
}

/** Creates the pod and puts daemon `i`'s runtime directory at the pod's emptyDir; returns the pod's uid. */
async function startPod(i: number, suffix: string): Promise<string> {
  const uid = api.create(launcher(i, suffix)).metadata.uid as string;
  const dir = libvirtRuntimeDir(root, uid);
  await mkdir(join(dir, ".."), { recursive: true });
  await symlink(join(daemons[i]!.dir, "run"), dir);
  return uid;
}

/** Deletes the pod, and its directory as the kubelet does once the pod is gone. */
async function deletePod(i: number, suffix: string, uid: string): Promise<void> {
  api.delete("v1", "Pod", `virt-launcher-${vmi(i)}-${suffix}`, NS);
  await rm(join(root, "var/lib/kubelet/pods", uid), { recursive: true, force: true });
}

async function events(): Promise<Recorded[]> {
  return ((await (await fetch(`${listener.url}/control/events`)).json()) as { events: Recorded[] }).events;
}

async function until(check: (e: Recorded[]) => boolean, what: string, ms = 45_000): Promise<Recorded[]> {
  const end = Date.now() + ms;
  for (;;) {
    const e = await events();
    if (check(e)) return e;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}; agent stderr:\n${stderr.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const measurements = (e: Recorded[], name: string, since = 0) =>
  e.filter(
    (r) =>
      r.event.commonEventHeader.domain === "measurement" &&
      r.event.commonEventHeader.sourceName === name &&
      r.event.commonEventHeader.startEpochMicrosec >= since * 1000,
  );
const faults = (e: Recorded[], name: string, condition: string) =>
  e.filter(
    (r) =>
      r.event.commonEventHeader.domain === "fault" &&
      r.event.commonEventHeader.sourceName === name &&
      r.event.faultFields?.alarmCondition === condition,
  );

let uids: string[] = [];

beforeAll(async () => {
  api = new FakeApiServer();
  await api.start();
  for (let i = 0; i < 3; i++) {
    const lv = await startLibvirtd({ qemu: true });
    daemons.push(lv);
    guests.push(await startTinyGuests(lv, 1, `${NS}_vm${i}`));
  }
  root = await mkdtemp(join(tmpdir(), "vesmon-kubevirt-"));
  uids = [await startPod(0, "a0"), await startPod(1, "a1"), await startPod(2, "a2")];
  listener = new ListenerProcess({ port: 0, validate: schemaValidator() });
  await listener.start();
  const kubeconfig = join(root, "kubeconfig");
  await writeFile(kubeconfig, api.kubeConfig().exportConfig());
  const profile = join(root, "profile.yaml");
  await writeFile(
    profile,
    `apiVersion: vesmon.io/v1alpha1
kind: MonitoringProfile
metadata: {name: kubevirt}
spec:
  collectors:
    - name: virt
      interval: 1s
      cpuSource: libvirt
      libvirt: {discovery: kubevirt, uri: "qemu:///system", timeout: 2s}
  events: {measurementInterval: 5s, heartbeatInterval: 60s}
  faults: {vmLifecycle: true, collectorFailures: true}
  sinks:
    - name: ves
      ves:
        url: ${listener.url}
        timeout: 2s
        retry: {initialBackoff: 100ms, maxBackoff: 1s}
`,
  );
  agent = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "../../agent/main.ts"),
      "--profile",
      profile,
      "--kubeconfig",
      kubeconfig,
      "--host-root",
      root,
      "--state-dir",
      join(root, "state"),
      "--listen",
      "",
    ],
    { env: { ...process.env, NODE_NAME: NODE }, stdio: ["ignore", "ignore", "pipe"] },
  );
  agent.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
}, 180_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) agent.kill("SIGKILL");
  await listener?.close();
  await api?.close();
  for (const g of guests) await g.stop();
  for (const lv of daemons) await lv.stop();
  if (root) await rm(root, { recursive: true, force: true });
}, 120_000);

describe("agent on a KubeVirt node", () => {
  it("emits one event per VM, named by its VMI, with the VMI and domain UUID beside it", async () => {
    const got = await until(
      (e) => [0, 1, 2].every((i) => measurements(e, source(i)).length >= 1),
      "a measurement event of each VM",
    );
    for (const i of [0, 1, 2]) {
      const [m] = measurements(got, source(i));
      expect(m?.event.commonEventHeader.sourceId).toBe(guests[i]!.guests[0]!.uuid);
      const info = m?.event.measurementFields?.additionalMeasurements?.find((a) => a.name === "info");
      expect(info?.hashMap).toMatchObject({
        vmiNamespace: NS,
        vmiName: vmi(i),
        vmiPod: `virt-launcher-${vmi(i)}-a${i}`,
        domain: `${NS}_${vmi(i)}`,
      });
    }
    // No event names a VM by its bare domain name.
    expect(got.some((r) => r.event.commonEventHeader.sourceName.startsWith(`${NS}_`))).toBe(false);
  }, 90_000);

  it("names lifecycle faults by the VMI", async () => {
    await daemons[2]!.virsh("qemu:///system", "suspend", guests[2]!.guests[0]!.name);
    const got = await until((e) => faults(e, source(2), "VmPaused").length >= 1, "VmPaused of VM 2");
    expect(faults(got, source(2), "VmPaused")[0]?.event.faultFields?.eventSeverity).toBe("WARNING");
  }, 60_000);

  it("keeps the other VMs' events while one daemon is stopped, and resumes that VM when it is back", async () => {
    await daemons[0]!.stopDaemon();
    const stopped = Date.now();
    // Two windows of the others that began after the stop: VM 0 has none that began a window later.
    const got = await until(
      (e) =>
        measurements(e, source(1), stopped).length >= 2 && measurements(e, source(2), stopped).length >= 2,
      "two windows of VMs 1 and 2 after the stop",
    );
    expect(measurements(got, source(0), stopped + 5000)).toEqual([]);
    // A daemon that is down is not the collector failing: the others were read.
    expect(faults(got, `${NODE}`, "CollectorFailed")).toEqual([]);
    expect(stderr).toMatch(/libvirt connection lost/);
    await daemons[0]!.startDaemon();
    const back = Date.now();
    await until((e) => measurements(e, source(0), back).length >= 1, "VM 0 again once its daemon is back");
  }, 90_000);

  it("clears the alarms of a VM whose pod is deleted (migrated away), and follows a new pod", async () => {
    const gone = Date.now();
    await deletePod(2, "a2", uids[2]!);
    // Raised by the pause, cleared once the pod is gone. (A state read while the pause happened can clear and
    // raise it once more in between: the collection's samples may predate its events; see LifecycleFaults.)
    const cleared = await until((e) => {
      const last = faults(e, source(2), "VmPaused").at(-1)?.event;
      return (
        last?.faultFields?.eventSeverity === "NORMAL" &&
        last.commonEventHeader.lastEpochMicrosec >= gone * 1000
      );
    }, "VmPaused of VM 2 cleared after its pod went");
    expect(faults(cleared, source(2), "VmPaused")[0]?.event.faultFields?.eventSeverity).toBe("WARNING");
    await until((e) => measurements(e, source(1), gone).length >= 2, "two windows of VM 1 after the delete");
    expect(measurements(await events(), source(2), gone + 5000)).toEqual([]);
    // The VM comes (back) to this node in a new pod: found from the API, named by the new pod's VMI.
    await daemons[2]!.virsh("qemu:///system", "resume", guests[2]!.guests[0]!.name);
    await startPod(2, "b2");
    const started = Date.now();
    const got = await until((e) => measurements(e, source(2), started).length >= 1, "VM 2 in its new pod");
    const info = measurements(
      got,
      source(2),
      started,
    )[0]?.event.measurementFields?.additionalMeasurements?.find((a) => a.name === "info");
    expect(info?.hashMap.vmiPod).toBe(`virt-launcher-${vmi(2)}-b2`);
  }, 90_000);
});
