import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "./index.ts";
import type { ApiError } from "./types.ts";

let api: FakeApiServer;
beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
});
afterEach(async () => {
  await api.close();
});

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return { code: (err as ApiError).code, message: (err as ApiError).message };
  }
  throw new Error("not refused");
};

const event = (namespace: string, involvedNamespace?: string) => ({
  apiVersion: "v1",
  kind: "Event",
  metadata: { name: `e.${namespace}`, namespace },
  involvedObject: {
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    name: "p",
    ...(involvedNamespace ? { namespace: involvedNamespace } : {}),
  },
  reason: "Applied",
  message: "m",
  type: "Normal",
});

describe("built-in kinds are validated as kube-apiserver does", () => {
  it("an Event about a cluster-scoped object lives in default; one about a namespaced object in its namespace", () => {
    expect(refusal(() => api.create(event("vesmon-system")))).toEqual({
      code: 422,
      message:
        'Event "e.vesmon-system" is invalid: involvedObject.namespace: Invalid value: "": does not match event.namespace',
    });
    expect(api.create(event("default")).metadata.namespace).toBe("default");
    expect(api.create(event("apps", "apps")).metadata.namespace).toBe("apps");
    expect(refusal(() => api.create(event("other", "apps"))).code).toBe(422);
  });

  it("a Secret over 1 MiB of data is refused with 422", () => {
    const secret = (bytes: number) => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `s${bytes}`, namespace: "default" },
      data: { a: Buffer.alloc(bytes, 1).toString("base64") },
    });
    expect(api.create(secret(1024 * 1024)).metadata.name).toBe(`s${1024 * 1024}`);
    expect(refusal(() => api.create(secret(1024 * 1024 + 1)))).toMatchObject({
      code: 422,
      message: expect.stringMatching(/data: Too long: must have at most 1048576 bytes/),
    });
  });

  it("a Lease needs a positive duration, non-negative transitions and MicroTimes with six fractional digits", () => {
    const lease = (spec: object) => ({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "l", namespace: "default" },
      spec,
    });
    expect(refusal(() => api.create(lease({ leaseDurationSeconds: 0 }))).code).toBe(422);
    expect(refusal(() => api.create(lease({ leaseTransitions: -1 }))).code).toBe(422);
    expect(refusal(() => api.create(lease({ renewTime: "2026-03-01T12:00:00.000Z" }))).code).toBe(400);
    expect(
      api.create(lease({ leaseDurationSeconds: 15, renewTime: "2026-03-01T12:00:00.000000Z" })).metadata.name,
    ).toBe("l");
  });
});
