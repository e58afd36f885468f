import { XMLParser } from "fast-xml-parser";

/** What the virt collector takes from a domain's XML. */
export interface DomainXmlInfo {
  name: string;
  uuid: string;
  /** The `<metadata>` element's children, flattened to `path -> text` with namespace prefixes dropped (`vnf.id`). */
  metadata: Record<string, string>;
  /** The cgroup partition (`<resource><partition>`), when set. */
  partition?: string;
  /** The `<devices><interface>` elements, in document order (libvirt's `net.N` index). */
  interfaces: DomainInterface[];
}

/** One `<interface>` of a domain: its type attribute and the host device QEMU uses (`<target dev='vnet0'/>`). */
export interface DomainInterface {
  type: string;
  /** Absent where the interface has no host netdev (vhost-user, user-mode, hostdev). */
  dev?: string;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
});

// Interfaces are described by attributes, which the metadata parser drops; a second parser reads only them.
const attributes = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (_name, path) => path === "domain.devices.interface",
});

type InterfaceNode = { "@type"?: unknown; target?: { "@dev"?: unknown } };

function interfacesOf(xml: string): DomainInterface[] {
  if (!xml.includes("<interface")) return [];
  const doc = attributes.parse(xml) as { domain?: { devices?: { interface?: InterfaceNode[] } } };
  return (doc.domain?.devices?.interface ?? []).map((i) => {
    const dev = i.target?.["@dev"];
    return {
      type: typeof i["@type"] === "string" ? i["@type"] : "",
      ...(typeof dev === "string" && dev !== "" ? { dev } : {}),
    };
  });
}

function flatten(value: unknown, path: string, out: Record<string, string>): void {
  if (value === null || value === undefined || value === "") return;
  if (typeof value !== "object") {
    out[path] = String(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) flatten(v, `${path}[${i}]`, out);
    return;
  }
  for (const [k, v] of Object.entries(value)) flatten(v, path ? `${path}.${k}` : k, out);
}

/** Parses libvirt domain XML; throws naming the problem when it has no name or UUID. */
export function parseDomainXml(xml: string): DomainXmlInfo {
  const doc = parser.parse(xml) as { domain?: Record<string, unknown> };
  const d = doc.domain;
  if (!d || typeof d.name !== "string" || typeof d.uuid !== "string")
    throw new Error("domain XML has no <name> or <uuid>");
  const metadata: Record<string, string> = {};
  flatten(d.metadata, "", metadata);
  const partition = (d.resource as { partition?: unknown } | undefined)?.partition;
  return {
    name: d.name,
    uuid: d.uuid,
    metadata,
    ...(typeof partition === "string" ? { partition } : {}),
    interfaces: interfacesOf(xml),
  };
}
