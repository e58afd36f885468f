import {
  type CelInput,
  CelScalar,
  type CelValue,
  celEnv,
  celFunc,
  celMethod,
  isCelError,
  parse,
  plan,
} from "@bufbuild/cel";
import { parseQuantity } from "./quantity.ts";

/** A JSON schema node as the walkers here read it (plain JSON; TypeBox output is). */
export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  anyOf?: SchemaNode[];
  required?: string[];
  default?: unknown;
  description?: string;
  title?: string;
  pattern?: string;
  enum?: unknown[];
  [key: string]: unknown;
}

/**
 * The Kubernetes CEL functions our rules use, beyond standard CEL: `quantity(s).asInteger()`.
 * Kubernetes returns a Quantity object; here `quantity()` yields its integer value and `asInteger()` is the
 * identity on ints, so a rule must only use the `quantity(x).asInteger()` form (a test checks this).
 */
const KUBERNETES_FUNCS = [
  celFunc("quantity", [CelScalar.STRING], CelScalar.INT, (text) => BigInt(parseQuantity(text))),
  celMethod("asInteger", CelScalar.INT, [], CelScalar.INT, function (this: bigint) {
    return this;
  }),
];
const env = celEnv({ funcs: KUBERNETES_FUNCS });

/** Outcome of one rule on one value: passed, failed, or could not be evaluated (with the evaluator's message). */
export type RuleOutcome = { ok: true } | { ok: false; error?: string };

/** A compiled CEL rule taking `self`. */
export type CompiledRule = (self: CelInput) => RuleOutcome;

/** Parses and plans a rule once; throws an Error with the parser's message when the rule is not valid CEL. */
export function compileRule(expr: string): CompiledRule {
  const run = plan(env, parse(expr));
  return (self) => {
    const result: CelValue | ReturnType<typeof run> = run({ self });
    if (isCelError(result)) return { ok: false, error: result.message };
    if (result === true) return { ok: true };
    if (result === false) return { ok: false };
    return { ok: false, error: `rule returned ${String(result)}, not a bool` };
  };
}

/**
 * Converts a JSON value to CEL input the way the API server types it: objects become maps, `integer`
 * (and the integer side of int-or-string) becomes int, `number` becomes double.
 */
export function toCel(value: unknown, schema: SchemaNode): CelInput {
  if (Array.isArray(value)) return value.map((v) => toCel(v, schema.items ?? {}));
  if (value !== null && typeof value === "object") {
    const out = new Map<string, CelInput>();
    for (const [k, v] of Object.entries(value)) {
      const child =
        schema.properties?.[k] ??
        (typeof schema.additionalProperties === "object" ? schema.additionalProperties : {});
      out.set(k, toCel(v, child));
    }
    return out;
  }
  if (typeof value === "number") {
    const integral = schema.type === "integer" || schema["x-kubernetes-int-or-string"] === true;
    return integral && Number.isInteger(value) ? BigInt(value) : value;
  }
  return value as CelInput;
}
