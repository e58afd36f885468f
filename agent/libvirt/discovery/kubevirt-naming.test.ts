import { describe, expect, it } from "vitest";
import { vmiInfoLabels, vmiOfDomainName, vmiOfPod, vmiSourceName } from "./kubevirt-naming.ts";

describe("KubeVirt naming", () => {
  it("names a pod's VMI by its owner reference first, then vm.kubevirt.io/name, then kubevirt.io/domain", () => {
    const labels = { "vm.kubevirt.io/name": "by-label", "kubevirt.io/domain": "by-domain" };
    expect(
      vmiOfPod({
        name: "virt-launcher-db-1-abcde",
        namespace: "prod",
        labels,
        ownerReferences: [
          { kind: "ReplicaSet", name: "other" },
          { kind: "VirtualMachineInstance", name: "db-1", controller: true },
        ],
      }),
    ).toEqual({ namespace: "prod", name: "db-1", pod: "virt-launcher-db-1-abcde" });
    expect(vmiOfPod({ namespace: "prod", labels })).toEqual({ namespace: "prod", name: "by-label" });
    expect(vmiOfPod({ namespace: "prod", labels: { "kubevirt.io/domain": "d" } })).toEqual({
      namespace: "prod",
      name: "d",
    });
    expect(vmiOfPod({ namespace: "prod", labels: { "kubevirt.io": "virt-launcher" } })).toBeUndefined();
    expect(vmiOfPod({ labels })).toBeUndefined();
  });

  it("reads <namespace>_<name> domain names, splitting at the first underscore", () => {
    expect(vmiOfDomainName("prod_db_primary")).toEqual({ namespace: "prod", name: "db_primary" });
    expect(vmiOfDomainName("plain-guest")).toBeUndefined();
    expect(vmiOfDomainName("_x")).toBeUndefined();
    expect(vmiOfDomainName("x_")).toBeUndefined();
  });

  it("names the VES source namespace/name and lists the VMI in vm.info labels", () => {
    const vmi = { namespace: "prod", name: "db-1", pod: "virt-launcher-db-1-abcde" };
    expect(vmiSourceName(vmi)).toBe("prod/db-1");
    expect(vmiInfoLabels(vmi, "prod_db-1")).toEqual({
      vmiNamespace: "prod",
      vmiName: "db-1",
      vmiPod: "virt-launcher-db-1-abcde",
      domain: "prod_db-1",
    });
  });
});
