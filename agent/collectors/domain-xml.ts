import { XMLParser } from "fast-xml-parser";

/** What the virt collector takes from a domain's XML. */
export interface DomainXmlInfo {
  name: string;
  uuid: string;
  /** The `<metadata>` element's children, flattened to `path -> text` with namespace prefixes dropped (`vnf.id`). */
  metadata: Record<string, string>;
  /** The cgroup partition (`<resource><partition>`), when set. */
  partition?: string;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
});

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
  return { name: d.name, uuid: d.uuid, metadata, ...(typeof partition === "string" ? { partition } : {}) };
}
