import { describe, expect, it } from "vitest";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { ApiError, type K8sObject } from "./types.ts";

const obj = (name: string, labels: Record<string, string>): K8sObject => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels },
});

describe("selectors", () => {
  it("matches equality and set-based label requirements, ANDed", () => {
    const m = parseLabelSelector("k=v,k2!=v,k3 in (a, b),k4,!k5");
    expect(m(obj("x", { k: "v", k3: "b", k4: "" }))).toBe(true);
    expect(m(obj("x", { k: "v", k2: "v", k3: "b", k4: "" }))).toBe(false);
    expect(m(obj("x", { k: "v", k3: "c", k4: "" }))).toBe(false);
    expect(m(obj("x", { k: "v", k3: "a" }))).toBe(false);
    expect(m(obj("x", { k: "v", k3: "a", k4: "1", k5: "1" }))).toBe(false);
    expect(parseLabelSelector("a notin (x)")(obj("x", {}))).toBe(true);
    expect(parseLabelSelector("a==1")(obj("x", { a: "1" }))).toBe(true);
    expect(() => parseLabelSelector("a in x")).toThrow(ApiError);
  });

  it("supports metadata.name and metadata.namespace field selectors only", () => {
    expect(parseFieldSelector("metadata.name=n1", "Node")(obj("n1", {}))).toBe(true);
    expect(parseFieldSelector("metadata.name!=n1", "Node")(obj("n1", {}))).toBe(false);
    expect(() => parseFieldSelector("spec.nodeName=x", "Node")).toThrow(/not a known field selector/);
  });

  it("selects Pods by spec.nodeName and status.phase, as kube-apiserver does", () => {
    const pod = (node: string, phase: string): K8sObject => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "ns" },
      spec: { nodeName: node },
      status: { phase },
    });
    const onN1 = parseFieldSelector("spec.nodeName=n1", "Pod");
    expect(onN1(pod("n1", "Running"))).toBe(true);
    expect(onN1(pod("n2", "Running"))).toBe(false);
    expect(
      parseFieldSelector("spec.nodeName=n1,status.phase!=Succeeded", "Pod")(pod("n1", "Succeeded")),
    ).toBe(false);
    expect(() => parseFieldSelector("spec.containers=x", "Pod")).toThrow(/not a known field selector/);
  });
});
