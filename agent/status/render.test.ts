import { describe, expect, it } from "vitest";
import { validateNodeMonitor } from "../../api/v1alpha1/validators.ts";
import type { AgentStatus } from "../agent.ts";
import { renderStatus, statusFingerprint } from "./render.ts";

const healthy: AgentStatus = {
  profiles: [{ name: "p", appliedGeneration: 3, state: "Applied" }],
  jobs: [
    {
      id: "cpu-0123456789ab",
      collector: "cpu",
      intervalMs: 10_000,
      state: "Running",
      skipped: 0,
      collections: 12,
      missed: 0,
      partialErrors: 0,
      partialErrorsTotal: 0,
      lastSuccessTime: Date.UTC(2026, 10, 22, 10),
      profiles: ["p"],
    },
  ],
  sinks: [
    {
      profile: "p",
      name: "ves",
      kind: "ves",
      state: "Ready",
      target: "primary",
      queued: 0,
      queuedBytes: 0,
      delivered: 10,
      dropped: 0,
      retries: 0,
    },
  ],
};
const t0 = new Date("2026-11-22T10:00:00Z");
const t1 = new Date("2026-11-22T10:01:00Z");

/** The status must be a valid NodeMonitor status by the CRD's own schema. */
function valid(status: unknown) {
  const r = validateNodeMonitor({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "NodeMonitor",
    metadata: { name: "n1" },
    spec: { nodeName: "n1", configHash: "sha256:0123456789abcdef" },
    status,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
}

describe("renderStatus", () => {
  it("reports a healthy node as Applied and not Degraded", () => {
    const s = renderStatus({
      generation: 4,
      configHash: "sha256:0123456789abcdef",
      agentVersion: "0.1.0",
      agent: healthy,
      now: t0,
    });
    valid(s);
    expect(s).toMatchObject({
      observedGeneration: 4,
      configHash: "sha256:0123456789abcdef",
      profiles: [{ name: "p", appliedGeneration: 3, state: "Applied" }],
    });
    expect(s.jobs?.[0]).toMatchObject({
      interval: "10s",
      state: "Running",
      lastSuccessTime: "2026-11-22T10:00:00.000Z",
    });
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ["Applied", "True", "ConfigApplied"],
      ["Degraded", "False", "AsExpected"],
    ]);
  });

  it("shows a running job's partial error as its lastError without degrading the node", () => {
    const partial: AgentStatus = {
      ...healthy,
      jobs: [
        {
          ...healthy.jobs[0]!,
          partialErrors: 1,
          partialErrorsTotal: 3,
          lastError: "domain 7: XML unreadable",
          lastErrorTime: Date.UTC(2026, 10, 22, 10),
        },
      ],
    };
    const s = renderStatus({ generation: 4, agentVersion: "0.1.0", agent: partial, now: t0 });
    valid(s);
    expect(s.jobs?.[0]).toMatchObject({
      state: "Running",
      lastError: "domain 7: XML unreadable",
      lastErrorTime: "2026-11-22T10:00:00.000Z",
    });
    expect(s.conditions?.find((c) => c.type === "Degraded")).toMatchObject({
      status: "False",
      reason: "AsExpected",
    });
  });

  it("names failing jobs in Degraded and keeps transition times while nothing changes", () => {
    const failing: AgentStatus = {
      ...healthy,
      jobs: [{ ...healthy.jobs[0]!, state: "Failed", lastError: "cannot connect to libvirt" }],
    };
    const first = renderStatus({ generation: 4, agentVersion: "0.1.0", agent: failing, now: t0 });
    valid(first);
    const degraded = first.conditions?.find((c) => c.type === "Degraded");
    expect(degraded).toMatchObject({
      status: "True",
      reason: "JobsFailing",
      message: "job cpu-0123456789ab: cannot connect to libvirt",
    });
    const again = renderStatus({
      generation: 4,
      agentVersion: "0.1.0",
      agent: failing,
      previous: first,
      now: t1,
    });
    expect(again.conditions).toEqual(first.conditions);
    expect(statusFingerprint(again)).toBe(statusFingerprint(first));
  });

  it("reports profiles left out of a full NodeMonitor in Degraded", () => {
    const status = renderStatus({
      generation: 2,
      configHash: "sha256:0123456789abcdef",
      agentVersion: "1.0.0",
      agent: healthy,
      omittedProfiles: ["p17", "p18"],
      now: t0,
    });
    valid(status);
    expect(status.conditions?.find((c) => c.type === "Degraded")).toMatchObject({
      status: "True",
      reason: "TooManyProfiles",
      message: expect.stringContaining("left out: p17; p18"),
    });
  });

  it("reports a refused configuration with the validator's message", () => {
    const s = renderStatus({
      generation: 5,
      agentVersion: "0.1.0",
      agent: healthy,
      refused: "spec.profiles[0].spec.collectors[0].interval: must be …",
      now: t0,
    });
    valid(s);
    expect(s.conditions?.find((c) => c.type === "Applied")).toMatchObject({
      status: "False",
      reason: "ConfigRefused",
      observedGeneration: 5,
    });
  });
});
