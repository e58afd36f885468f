import type { CelInput } from "@bufbuild/cel";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { type CompiledRule, compileRule, type SchemaNode, toCel } from "./cel.ts";
import { DURATION_PATTERN } from "./duration.ts";
import { QUANTITY_PATTERN } from "./quantity.ts";

/** One refusal, naming the field as the API server does (`spec.sinks[0].ves.url`). */
export interface FieldError {
  field: string;
  message: string;
}

/** A validation outcome: the defaulted value, or every error found. */
export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Joins errors into one line per field, for logs and CLI output. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join("\n");
}

/** Keywords our schemas carry for the API server or for code generation; ajv only needs to accept them. */
export const SCHEMA_EXTENSIONS = [
  "x-kubernetes-validations",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
  "x-vesmon-object-meta",
];

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

/** An ajv instance configured as the validators use it: all errors, defaults applied, our extension keywords known. */
export function createAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    verbose: true,
    strictTypes: false,
    strictTuples: false,
  });
  addFormats(ajv);
  ajv.addVocabulary(SCHEMA_EXTENSIONS);
  return ajv;
}

/** Renders a JSON pointer as a Kubernetes field path. */
export function fieldPath(pointer: string, extra?: string): string {
  const parts = pointer
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  if (extra !== undefined) parts.push(extra);
  return parts.reduce(joinField, "");
}

/** Appends one segment to a field path: `[3]` for an index, `.name` for a name, `["a.b/c"]` for other map keys. */
export function joinField(path: string, segment: string | number): string {
  if (typeof segment === "number" || /^[0-9]+$/.test(segment)) return `${path}[${segment}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) return path ? `${path}.${segment}` : segment;
  return `${path}[${JSON.stringify(segment)}]`;
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describe(err: ErrorObject): FieldError | undefined {
  const parent = (err.parentSchema ?? {}) as SchemaNode;
  const at = fieldPath(err.instancePath);
  switch (err.keyword) {
    case "required":
      return { field: fieldPath(err.instancePath, err.params.missingProperty), message: "is required" };
    case "additionalProperties":
      return { field: fieldPath(err.instancePath, err.params.additionalProperty), message: "unknown field" };
    case "enum":
      return {
        field: at,
        message: `must be one of ${(err.params.allowedValues as unknown[]).map(shown).join(", ")} (got ${shown(err.data)})`,
      };
    case "const":
      return { field: at, message: `must be ${shown(err.params.allowedValue)} (got ${shown(err.data)})` };
    case "type":
      if (parent.pattern === DURATION_PATTERN)
        return {
          field: at,
          message: `must be a duration such as "10s", "1m30s" or "500ms" (got ${shown(err.data)})`,
        };
      return {
        field: at,
        message: `must be ${err.params.type === "integer" ? "an" : "a"} ${err.params.type} (got ${shown(err.data)})`,
      };
    case "pattern":
      if (err.params.pattern === DURATION_PATTERN)
        return {
          field: at,
          message: `must be a duration such as "10s", "1m30s" or "500ms" (got ${shown(err.data)})`,
        };
      if (err.params.pattern === QUANTITY_PATTERN)
        return {
          field: at,
          message: `must be a byte size such as "64Mi", "1G" or 4096 (got ${shown(err.data)})`,
        };
      return { field: at, message: `must match ${err.params.pattern} (got ${shown(err.data)})` };
    case "anyOf":
      if (parent["x-kubernetes-int-or-string"])
        return {
          field: at,
          message: `must be an integer or a string such as "64Mi" (got ${shown(err.data)})`,
        };
      return { field: at, message: err.message ?? "is invalid" };
    default:
      return { field: at, message: err.message ?? "is invalid" };
  }
}

function ajvErrors(errors: readonly ErrorObject[]): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const err of errors) {
    // Branch errors of an int-or-string anyOf repeat what the anyOf error says.
    if (err.schemaPath.includes("/anyOf/")) continue;
    const e = describe(err);
    if (!e) continue;
    const key = `${e.field}\0${e.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(e);
    }
  }
  return out;
}

interface Rule {
  compiled: CompiledRule;
  message: string;
  fieldPath?: string;
}

/** Everything the API server checks beyond plain JSON schema: list-map keys and CEL rules. */
function checkKubernetesRules(
  value: unknown,
  schema: SchemaNode,
  path: string,
  rules: Map<SchemaNode, Rule[]>,
): FieldError[] {
  const errors: FieldError[] = [];
  const walk = (v: unknown, s: SchemaNode, at: string): void => {
    if (v === undefined || v === null) return;
    if (Array.isArray(v)) {
      const listType = s["x-kubernetes-list-type"];
      if (listType === "map" || listType === "set") {
        const keys = listType === "map" ? (s["x-kubernetes-list-map-keys"] as string[]) : undefined;
        const first = new Map<string, number>();
        v.forEach((item, i) => {
          const id = JSON.stringify(keys ? keys.map((k) => (item as Record<string, unknown>)?.[k]) : item);
          const prev = first.get(id);
          if (prev === undefined) first.set(id, i);
          else {
            const what = keys
              ? keys.map((k) => `${k} ${shown((item as Record<string, unknown>)[k])}`).join(", ")
              : shown(item);
            errors.push({
              field: joinField(at, i),
              message: `duplicate entry: ${what} is already at ${at}[${prev}]`,
            });
          }
        });
      }
      const items = s.items;
      if (items)
        v.forEach((item, i) => {
          walk(item, items, joinField(at, i));
        });
    } else if (typeof v === "object") {
      for (const [k, child] of Object.entries(v)) {
        const cs =
          s.properties?.[k] ??
          (typeof s.additionalProperties === "object" ? s.additionalProperties : undefined);
        if (cs) walk(child, cs, joinField(at, k));
      }
    }
    const nodeRules = rules.get(s);
    if (nodeRules) {
      const self: CelInput = toCel(v, s);
      for (const r of nodeRules) {
        const outcome = r.compiled(self);
        if (outcome.ok) continue;
        const field = r.fieldPath ? (at ? `${at}${r.fieldPath}` : r.fieldPath.replace(/^\./, "")) : at;
        errors.push({
          field,
          message: outcome.error ? `${r.message} (rule error: ${outcome.error})` : r.message,
        });
      }
    }
  };
  walk(value, schema, path);
  return errors;
}

/** Compiles every CEL rule of a schema once, keyed by the node that carries it. */
function compileRules(schema: SchemaNode): Map<SchemaNode, Rule[]> {
  const out = new Map<SchemaNode, Rule[]>();
  const visit = (s: SchemaNode): void => {
    const list = s["x-kubernetes-validations"] as
      | { rule: string; message: string; fieldPath?: string }[]
      | undefined;
    if (list && !out.has(s))
      out.set(
        s,
        list.map((r) => ({
          compiled: compileRule(r.rule),
          message: r.message,
          ...(r.fieldPath ? { fieldPath: r.fieldPath } : {}),
        })),
      );
    for (const child of Object.values(s.properties ?? {})) visit(child);
    if (s.items) visit(s.items);
    if (typeof s.additionalProperties === "object") visit(s.additionalProperties);
  };
  visit(schema);
  return out;
}

/** A validator for one kind: applies defaults to a copy, checks the schema, list-map keys and CEL rules. */
export type Validator<T> = (input: unknown) => Validated<T>;

/**
 * Builds a validator from a schema. Like the API server, CEL rules run only on input that passed the schema,
 * after defaulting. Never throws on bad input; throws on its first call if a rule is not valid CEL (the CRD
 * tests compile every rule, so that never reaches a user).
 */
export function createValidator<T>(schema: SchemaNode): Validator<T> {
  // Compiled on first use: a process that never validates one kind (the standalone agent and NodeMonitors)
  // does not carry its compiled schema and CEL programs (several MiB each).
  let compiled: { check: ValidateFunction; rules: ReturnType<typeof compileRules> } | undefined;
  return (input) => {
    compiled ??= { check: createAjv().compile(schema), rules: compileRules(schema) };
    const { check, rules } = compiled;
    const value = structuredClone(input);
    if (!check(value)) return { ok: false, errors: ajvErrors(check.errors ?? []) };
    const errors = checkKubernetesRules(value, schema, "", rules);
    return errors.length ? { ok: false, errors } : { ok: true, value: value as T };
  };
}
