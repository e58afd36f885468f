import type { ErrorObject, ValidateFunction } from "ajv";
import AjvDraft04Module from "ajv-draft-04";
import addFormatsModule from "ajv-formats";
import schema28 from "./schemas/CommonEventFormat_28.4.1.json" with { type: "json" };
import schema30 from "./schemas/CommonEventFormat_30.2.1_ONAP.json" with { type: "json" };
import type { VesVersion } from "./types.ts";

/** A validation outcome; each error names the failing JSON path of the request body (`event.commonEventHeader.version`). */
export type VesValidation = { ok: true } | { ok: false; errors: string[] };

/** Options of the validators. */
export interface ValidateOptions {
  /**
   * Also refuse properties the schema does not declare. Schema 30.2.1 is closed already; 28.4.1 leaves every object
   * open, so without this a misspelt or VES 7-only field passes it. Defaults to false (the schema as published).
   */
  closed?: boolean;
}

type JsonObject = { [key: string]: unknown };

// Both packages are CommonJS with a default export; under NodeNext the class (or function) sits on `.default`.
type AjvClass = typeof AjvDraft04Module.default;
const AjvDraft04: AjvClass =
  (AjvDraft04Module as unknown as { default?: AjvClass }).default ??
  (AjvDraft04Module as unknown as AjvClass);
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: InstanceType<AjvClass>,
) => unknown;

const SCHEMAS: Record<VesVersion, JsonObject> = { "7.2.1": schema30, "5.4.1": schema28 };

/** The official schema file of a VES version, as parsed JSON (draft-04). */
export function vesSchema(version: VesVersion): Readonly<JsonObject> {
  return SCHEMAS[version];
}

const compiled = new Map<string, ValidateFunction>();

function validator(version: VesVersion, closed: boolean): ValidateFunction {
  const key = `${version}/${closed}`;
  let fn = compiled.get(key);
  if (!fn) {
    // strict off: the published schemas carry keywords ajv's strict mode dislikes (descriptions on $ref siblings).
    const ajv = new AjvDraft04({ allErrors: true, strict: false });
    addFormats(ajv);
    const source = closed ? closeObjects(structuredClone(SCHEMAS[version])) : SCHEMAS[version];
    fn = ajv.compile(source);
    compiled.set(key, fn);
  }
  return fn;
}

/** Adds `additionalProperties: false` to every object schema that lists properties and says nothing about others. */
function closeObjects<T>(node: T): T {
  if (Array.isArray(node)) node.forEach(closeObjects);
  else if (node && typeof node === "object") {
    const obj = node as JsonObject;
    for (const value of Object.values(obj)) closeObjects(value);
    if (isObject(obj.properties) && !("additionalProperties" in obj) && !("$ref" in obj))
      obj.additionalProperties = false;
  }
  return node;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Renders a JSON pointer (`/event/measurementFields/cpuUsageArray/0`) as `event.measurementFields.cpuUsageArray[0]`. */
function jsonPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce(
      (path, seg) =>
        /^\d+$/.test(seg)
          ? `${path}[${seg}]`
          : /^[A-Za-z_$][\w$]*$/.test(seg)
            ? path
              ? `${path}.${seg}`
              : seg
            : `${path}[${JSON.stringify(seg)}]`,
      "",
    );
}

function describe(e: ErrorObject): string {
  const at = jsonPath(e.instancePath) || "(root)";
  if (e.keyword === "additionalProperties")
    return `${at}: unknown field ${JSON.stringify(e.params.additionalProperty)}`;
  if (e.keyword === "required")
    return `${at}: missing required field ${JSON.stringify(e.params.missingProperty)}`;
  if (e.keyword === "enum") return `${at}: must be one of ${JSON.stringify(e.params.allowedValues)}`;
  return `${at}: ${e.message ?? e.keyword}`;
}

function run(body: unknown, version: VesVersion, options: ValidateOptions): VesValidation {
  const fn = validator(version, options.closed ?? false);
  if (fn(body)) return { ok: true };
  return { ok: false, errors: [...new Set((fn.errors ?? []).map(describe))] };
}

/** Validates one event, as sent in `{"event": …}`, against the official schema of `version`. */
export function validateVesEvent(
  event: unknown,
  version: VesVersion,
  options: ValidateOptions = {},
): VesValidation {
  if (!isObject(event)) return { ok: false, errors: ["event: must be an object"] };
  return run({ event }, version, options);
}

/**
 * Validates a batch body (`{"eventList": […]}`) against the official schema of `version`, and the rule the schema
 * cannot state: every event of a batch is in one domain (the ONAP collector refuses mixed batches).
 */
export function validateVesBatch(
  batch: unknown,
  version: VesVersion,
  options: ValidateOptions = {},
): VesValidation {
  if (!isObject(batch) || !Array.isArray(batch.eventList))
    return { ok: false, errors: ["eventList: must be an array"] };
  const result = run({ eventList: batch.eventList }, version, options);
  const errors = result.ok ? [] : [...result.errors];
  if (Object.keys(batch).some((k) => k !== "eventList")) errors.push("(root): only eventList may be present");
  const domains = new Set(
    batch.eventList.map((e) =>
      isObject(e) && isObject(e.commonEventHeader) ? e.commonEventHeader.domain : undefined,
    ),
  );
  if (domains.size > 1)
    errors.push(`eventList: events of one domain only, got ${JSON.stringify([...domains])}`);
  return errors.length ? { ok: false, errors } : { ok: true };
}
