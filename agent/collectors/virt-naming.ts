import { vmiInfoLabels, vmiOfDomainName, vmiSourceName } from "../libvirt/discovery/kubevirt-naming.ts";
import type { VirtDaemon } from "./virt-sources.ts";

/** A VM's name in events, and the labels its `vm.info` sample adds. */
export interface VmName {
  name: string;
  labels?: Record<string, string>;
}

/**
 * The name of a domain served by `daemon`: the domain name for a plain daemon; for KubeVirt's, its VMI as
 * `<namespace>/<name>` (from the API, else from the domain name `<namespace>_<name>`), with the VMI in labels.
 */
export function vmName(domain: string, daemon: VirtDaemon): VmName {
  if (!daemon.kubevirt) return { name: domain };
  const vmi = daemon.vmi ?? vmiOfDomainName(domain);
  return vmi ? { name: vmiSourceName(vmi), labels: vmiInfoLabels(vmi, domain) } : { name: domain };
}
