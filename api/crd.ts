import type { SchemaNode } from "./cel.ts";

/** An additional printer column of a CRD version. */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** What a CRD needs besides its schema. */
export interface CrdDescription {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  schema: SchemaNode;
  printerColumns: PrinterColumn[];
}

/** Keys that exist only for the validator or for code generation, never in a CRD. */
const LOCAL_KEYS = new Set(["title", "const", "$id", "$schema", "x-vesmon-object-meta", "tsType"]);

/**
 * Turns a validator schema into a structural CRD schema: drops `additionalProperties: false` (the API server
 * prunes unknown fields instead), local-only keys, and everything under root `metadata` but its type.
 */
export function toCrdSchema(node: SchemaNode): SchemaNode {
  if (node["x-vesmon-object-meta"]) return { type: "object" };
  const out: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    if (LOCAL_KEYS.has(key)) continue;
    if (key === "additionalProperties") {
      if (typeof value === "object") out[key] = toCrdSchema(value as SchemaNode);
      continue;
    }
    if (key === "properties") {
      const props: Record<string, SchemaNode> = {};
      for (const [name, child] of Object.entries(value as Record<string, SchemaNode>))
        props[name] = toCrdSchema(child);
      out[key] = props;
    } else if (key === "items") out[key] = toCrdSchema(value as SchemaNode);
    else if (key === "anyOf") out[key] = (value as SchemaNode[]).map(toCrdSchema);
    else if (key === "required" && (value as string[]).length === 0) continue;
    else out[key] = structuredClone(value);
  }
  return out;
}

/** The API server fills apiVersion, kind and metadata itself; only the rest may be required at the root. */
function rootSchema(schema: SchemaNode): SchemaNode {
  const out = toCrdSchema(schema);
  const required = (out.required ?? []).filter((k) => !["apiVersion", "kind", "metadata"].includes(k));
  if (required.length) out.required = required;
  else delete out.required;
  return out;
}

/** Builds the apiextensions.k8s.io/v1 CustomResourceDefinition object for one kind. */
export function buildCrd(d: CrdDescription): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${d.plural}.${d.group}`,
      labels: { "app.kubernetes.io/name": "vesmon", "app.kubernetes.io/part-of": "vesmon" },
    },
    spec: {
      group: d.group,
      names: {
        kind: d.kind,
        listKind: `${d.kind}List`,
        plural: d.plural,
        singular: d.singular,
        shortNames: d.shortNames,
        categories: d.categories,
      },
      scope: "Cluster",
      versions: [
        {
          name: d.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: d.printerColumns,
          schema: { openAPIV3Schema: rootSchema(d.schema) },
        },
      ],
    },
  };
}
