import { describe, expect, it } from "vitest";
import { vmName } from "./virt-naming.ts";

const client = { getXmlDesc: async () => "<domain/>", getAllDomainStats: async () => [] };

describe("vmName", () => {
  it("keeps the domain name for a plain daemon, even one that looks like KubeVirt's", () => {
    expect(vmName("prod_db-1", { client, kubevirt: false })).toEqual({ name: "prod_db-1" });
  });

  it("names a KubeVirt VM by the VMI the API gave, else by its domain name", () => {
    const vmi = { namespace: "prod", name: "db-1", pod: "virt-launcher-db-1-x7k2p" };
    expect(vmName("prod_db-1", { client, kubevirt: true, vmi })).toEqual({
      name: "prod/db-1",
      labels: {
        vmiNamespace: "prod",
        vmiName: "db-1",
        vmiPod: "virt-launcher-db-1-x7k2p",
        domain: "prod_db-1",
      },
    });
    expect(vmName("prod_db-1", { client, kubevirt: true })).toEqual({
      name: "prod/db-1",
      labels: { vmiNamespace: "prod", vmiName: "db-1", domain: "prod_db-1" },
    });
    expect(vmName("standalone", { client, kubevirt: true })).toEqual({ name: "standalone" });
  });
});
