import Type, { type TProperties, type TSchema, type TUnsafe } from "typebox";
import { DURATION_PATTERN, parseDuration } from "../duration.ts";
import { parseQuantity, QUANTITY_PATTERN } from "../quantity.ts";

/** One `x-kubernetes-validations` entry: a CEL rule evaluated with `self` bound to the node it sits on. */
export interface CelRule {
  rule: string;
  message: string;
  /** Path relative to the node, e.g. `.warningMax`, reported as the failing field. */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** Schema options shared by the builders below. */
export interface FieldOptions {
  description: string;
  rules?: CelRule[];
}

function extra(opts: FieldOptions): Record<string, unknown> {
  const { rules, ...rest } = opts;
  return rules?.length ? { ...rest, "x-kubernetes-validations": rules } : rest;
}

/** A closed object: unknown fields are refused by the validator (the API server prunes them). */
export function Struct<P extends TProperties>(
  properties: P,
  opts: FieldOptions & { title?: string; default?: Record<string, never> },
) {
  return Type.Object(properties, { ...extra(opts), additionalProperties: false });
}

/** A string restricted to the given values. */
export function StringEnum<const V extends readonly string[]>(
  values: V,
  opts: FieldOptions & { default?: V[number] },
): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: "string", enum: [...values], ...extra(opts) });
}

/** A map of strings (`additionalProperties` with a string schema: structural, unlike patternProperties). */
export function StringMap(opts: FieldOptions & { maxProperties?: number }) {
  const { maxProperties = 64, ...rest } = opts;
  return Type.Unsafe<Record<string, string>>({
    type: "object",
    additionalProperties: { type: "string", maxLength: 63 },
    maxProperties,
    ...extra(rest),
  });
}

/** A Go-style duration string with inclusive bounds checked by a CEL rule. */
export function Duration(opts: FieldOptions & { min: string; max: string; default?: string }) {
  const { min, max, ...rest } = opts;
  // Bounds are validated here too, so a wrong literal in the schema fails at import, not in a cluster.
  if (parseDuration(min) > parseDuration(max)) throw new RangeError(`duration bounds ${min} > ${max}`);
  if (rest.default !== undefined) parseDuration(rest.default);
  return Type.String({
    pattern: DURATION_PATTERN,
    maxLength: 32,
    ...extra({
      ...rest,
      rules: [
        {
          rule: `duration(self) >= duration('${min}') && duration(self) <= duration('${max}')`,
          message: `must be between ${min} and ${max}`,
        },
        ...(rest.rules ?? []),
      ],
    }),
  });
}

/** CEL expression for the byte count of an int-or-string quantity field. */
export function celBytes(expr: string): string {
  return `(type(${expr}) == int ? ${expr} : quantity(${expr}).asInteger())`;
}

/** A byte size as a Kubernetes quantity (int-or-string, `64Mi`), with inclusive bounds checked by a CEL rule. */
export function ByteSize(opts: FieldOptions & { min: string; max: string; default?: string }) {
  const { min, max, ...rest } = opts;
  const lo = parseQuantity(min);
  const hi = parseQuantity(max);
  return Type.Unsafe<number | string>({
    "x-kubernetes-int-or-string": true,
    anyOf: [{ type: "integer" }, { type: "string" }],
    pattern: QUANTITY_PATTERN,
    minimum: 0,
    maxLength: 32,
    ...extra({
      ...rest,
      rules: [
        {
          rule: `${celBytes("self")} >= ${lo} && ${celBytes("self")} <= ${hi}`,
          message: `must be between ${min} and ${max}`,
        },
        ...(rest.rules ?? []),
      ],
    }),
  });
}

/** RFC 1123 label: lower-case alphanumerics and '-', at most 63 characters. */
export function DnsLabel(opts: FieldOptions) {
  return Type.String({
    pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    minLength: 1,
    maxLength: 63,
    ...extra(opts),
  });
}

/** RFC 1123 subdomain, the rule for most Kubernetes object names (Secrets, Nodes, profiles). */
export function DnsSubdomain(opts: FieldOptions) {
  return Type.String({
    pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    minLength: 1,
    maxLength: 253,
    ...extra(opts),
  });
}

/** An RFC 3339 timestamp, as metav1.Time serialises. */
export function Timestamp(opts: FieldOptions) {
  return Type.String({ format: "date-time", maxLength: 64, ...extra(opts) });
}

/** A non-negative 64-bit count. */
export function Count(opts: FieldOptions) {
  return Type.Integer({ minimum: 0, format: "int64", ...extra(opts) });
}

/** A list keyed like a map (`x-kubernetes-list-type: map`), which server-side apply merges by key. */
export function ListMap<T extends TSchema>(
  item: T,
  keys: string[],
  opts: FieldOptions & { maxItems: number; minItems?: number },
) {
  const { maxItems, minItems, ...rest } = opts;
  return Type.Array(item, {
    maxItems,
    ...(minItems !== undefined ? { minItems } : {}),
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": keys,
    ...extra(rest),
  });
}

/** A list of unique strings (`x-kubernetes-list-type: set`). */
export function StringSet(
  opts: FieldOptions & { maxItems: number; itemMaxLength?: number; itemPattern?: string },
) {
  const { maxItems, itemMaxLength = 253, itemPattern, ...rest } = opts;
  return Type.Array(
    Type.String({ minLength: 1, maxLength: itemMaxLength, ...(itemPattern ? { pattern: itemPattern } : {}) }),
    {
      maxItems,
      "x-kubernetes-list-type": "set",
      ...extra(rest),
    },
  );
}

/** Include/exclude glob lists: a name is taken when it matches an include (none means all) and no exclude. */
export const NameFilter = Struct(
  {
    include: Type.Optional(
      StringSet({
        description: "Globs (`*`, `?`) of names to take; empty or absent takes all.",
        maxItems: 64,
      }),
    ),
    exclude: Type.Optional(
      StringSet({ description: "Globs of names to leave out; applied after include.", maxItems: 64 }),
    ),
  },
  {
    title: "NameFilter",
    description: "Which names to report: those matching an include glob (all if none) and no exclude glob.",
  },
);

/** metav1.Condition, as in k8s.io/apimachinery/pkg/apis/meta/v1/types.go. */
export const Condition = Struct(
  {
    type: Type.String({
      description: "Type of the condition, in CamelCase.",
      pattern:
        "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
      maxLength: 316,
    }),
    status: StringEnum(["True", "False", "Unknown"] as const, { description: "Status of the condition." }),
    observedGeneration: Type.Optional(
      Type.Integer({
        minimum: 0,
        format: "int64",
        description: "The .metadata.generation the condition was set from.",
      }),
    ),
    lastTransitionTime: Timestamp({
      description: "When the condition last changed from one status to another.",
    }),
    reason: Type.String({
      description: "Programmatic identifier of the last transition, in CamelCase.",
      pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
      minLength: 1,
      maxLength: 1024,
    }),
    message: Type.String({ description: "Human-readable details of the last transition.", maxLength: 32768 }),
  },
  { title: "Condition", description: "A metav1.Condition." },
);

/** The conditions list of a status: a list-map keyed by `type`. */
export function Conditions(description: string) {
  return ListMap(Condition, ["type"], { description, maxItems: 16 });
}

/** metav1.LabelSelector: matchLabels and matchExpressions, ANDed; empty selects everything. */
export const LabelSelector = Struct(
  {
    matchLabels: Type.Optional(
      StringMap({ description: "Label key/value pairs a node must carry, all of them.", maxProperties: 64 }),
    ),
    matchExpressions: Type.Optional(
      Type.Array(
        Struct(
          {
            key: Type.String({
              description: "The label key the requirement applies to.",
              minLength: 1,
              maxLength: 317,
            }),
            operator: StringEnum(["In", "NotIn", "Exists", "DoesNotExist"] as const, {
              description: "How the key relates to the values.",
            }),
            values: Type.Optional(
              Type.Array(Type.String({ maxLength: 63 }), {
                description:
                  "Values for In and NotIn (non-empty); must be absent or empty for Exists and DoesNotExist.",
                maxItems: 64,
                "x-kubernetes-list-type": "atomic",
              }),
            ),
          },
          {
            title: "LabelSelectorRequirement",
            description: "A label requirement.",
            rules: [
              {
                rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
                message: "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
                fieldPath: ".values",
              },
            ],
          },
        ),
        {
          description: "Label requirements a node must meet, all of them.",
          maxItems: 32,
          "x-kubernetes-list-type": "atomic",
        },
      ),
    ),
  },
  {
    title: "LabelSelector",
    description: "A label selector (metav1.LabelSelector); empty or absent selects every node.",
  },
);

/** Reference to a Secret in the operator's namespace; `keys` maps each key field to its default key. */
export function SecretKeyRef(title: string, description: string, keys: Record<string, string>) {
  const props: TProperties = {
    name: DnsSubdomain({ description: "Name of the Secret in the operator's namespace." }),
  };
  for (const [field, dflt] of Object.entries(keys)) {
    props[field] = Type.Optional(
      Type.String({
        description: `Key in the Secret. Defaults to \`${dflt}\`.`,
        default: dflt,
        minLength: 1,
        maxLength: 253,
      }),
    );
  }
  return Struct(props, { title, description });
}

/** Object metadata: the validator requires a valid name and leaves the rest open; the CRD keeps `type: object`. */
export const ObjectMeta = Type.Object(
  {
    name: DnsSubdomain({ description: "Object name." }),
  },
  { description: "Standard object metadata.", additionalProperties: true, "x-vesmon-object-meta": true },
);
