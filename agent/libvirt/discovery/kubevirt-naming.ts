/**
 * How a KubeVirt VM is named in events. KubeVirt names the libvirt domain `<namespace>_<vmi name>` and labels
 * the virt-launcher pod with the VMI's name; the pod is owned by its VirtualMachineInstance.
 */

/** The VirtualMachineInstance a libvirt domain runs for. */
export interface VmiIdentity {
  namespace: string;
  name: string;
  /** The virt-launcher pod, when known from the API. */
  pod?: string;
}

/** The part of a pod's metadata naming reads. */
export interface PodNamingMetadata {
  name?: string;
  namespace?: string;
  labels?: Readonly<Record<string, string>>;
  ownerReferences?: readonly { kind?: string; name?: string; controller?: boolean }[];
}

/** The pod label KubeVirt sets to the VMI's name. */
export const VMI_NAME_LABEL = "vm.kubevirt.io/name";
/** The pod label copied from the VMI's `kubevirt.io/domain` label, when the VMI has one. */
export const DOMAIN_LABEL = "kubevirt.io/domain";

/**
 * The VMI of a virt-launcher pod: the owner reference to a VirtualMachineInstance first (the API's own link),
 * then the `vm.kubevirt.io/name` label, then `kubevirt.io/domain`; undefined when the pod names none.
 */
export function vmiOfPod(pod: PodNamingMetadata): VmiIdentity | undefined {
  const namespace = pod.namespace;
  if (!namespace) return undefined;
  const owner = pod.ownerReferences?.find((o) => o.kind === "VirtualMachineInstance" && o.name);
  const name = owner?.name ?? pod.labels?.[VMI_NAME_LABEL] ?? pod.labels?.[DOMAIN_LABEL];
  if (!name) return undefined;
  return { namespace, name, ...(pod.name ? { pod: pod.name } : {}) };
}

/**
 * The VMI a domain name stands for: `<namespace>_<name>`. A namespace is a DNS label (no `_`), so the first
 * `_` splits them; a name without one is no KubeVirt domain.
 */
export function vmiOfDomainName(domain: string): VmiIdentity | undefined {
  const at = domain.indexOf("_");
  if (at <= 0 || at === domain.length - 1) return undefined;
  return { namespace: domain.slice(0, at), name: domain.slice(at + 1) };
}

/** The VES sourceName of a VMI: `<namespace>/<name>`, as kubectl names namespaced objects. */
export function vmiSourceName(vmi: VmiIdentity): string {
  return `${vmi.namespace}/${vmi.name}`;
}

/** The labels a VM's `vm.info` sample carries for its VMI (additionalMeasurements `info`). */
export function vmiInfoLabels(vmi: VmiIdentity, domain: string): Record<string, string> {
  return {
    vmiNamespace: vmi.namespace,
    vmiName: vmi.name,
    ...(vmi.pod ? { vmiPod: vmi.pod } : {}),
    domain,
  };
}
