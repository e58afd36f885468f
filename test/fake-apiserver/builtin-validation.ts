import type { FieldError, Validated } from "../../api/validate.ts";
import { failure, isObject, type JsonObject } from "./types.ts";

/**
 * Validation of the built-in kinds the project writes, after kube-apiserver's `pkg/apis/core/validation`
 * (`ValidateEventCreate`, `ValidateSecret`) and `pkg/apis/coordination/validation` (`ValidateLeaseSpec`).
 * Only the rules our writes can meet are here; the rest of each kind is accepted as given.
 */

/** The largest Secret kube-apiserver accepts: the sum of the decoded `data` values (`MaxSecretSize`). */
export const MAX_SECRET_BYTES = 1024 * 1024;

const ok = (value: unknown): Validated<unknown> => ({ ok: true, value });
const result = (value: unknown, errors: FieldError[]): Validated<unknown> =>
  errors.length === 0 ? ok(value) : { ok: false, errors };

// metav1.MicroTime is decoded with Go's RFC3339Micro layout: exactly six fractional digits.
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

/**
 * A MicroTime field that Go cannot decode makes the whole request a 400, before validation, as the API
 * server's JSON decoder does.
 */
function decodeMicroTime(value: unknown, field: string): void {
  if (value === undefined || value === null) return;
  if (typeof value !== "string" || !MICRO_TIME.test(value)) {
    throw failure(
      400,
      "BadRequest",
      `the body of the request could not be decoded: ${field}: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse`,
    );
  }
}

/**
 * core/v1 Event (`legacyValidateEvent`). An event about a cluster-scoped object (no involvedObject.namespace)
 * must live in "" or "default" (or, for a new-style event with eventTime, "default" or "kube-system"); one
 * about a namespaced object in that object's namespace. New-style events need reportingController,
 * reportingInstance, action and reason.
 */
export function validateCoreEvent(obj: unknown): Validated<unknown> {
  const ev = obj as JsonObject & { metadata: { namespace?: string } };
  const involved = isObject(ev.involvedObject) ? ev.involvedObject : {};
  decodeMicroTime(ev.eventTime, "eventTime");
  const errors: FieldError[] = [];
  const ns = ev.metadata.namespace ?? "";
  const involvedNs = typeof involved.namespace === "string" ? involved.namespace : "";
  const mismatch = () =>
    errors.push({
      field: "involvedObject.namespace",
      message: `Invalid value: ${JSON.stringify(involvedNs)}: does not match event.namespace`,
    });
  if (!ev.eventTime) {
    if (involvedNs === "" ? ns !== "" && ns !== "default" : ns !== involvedNs) mismatch();
  } else {
    if (involvedNs === "" && ns !== "default" && ns !== "kube-system") mismatch();
    for (const f of ["reportingComponent", "reportingInstance", "action", "reason"]) {
      const v = ev[f];
      if (typeof v !== "string" || v === "") errors.push({ field: f, message: "Required value" });
      else if (v.length > 128) errors.push({ field: f, message: "Too long: may not be more than 128 bytes" });
    }
  }
  return result(obj, errors);
}

/**
 * events.k8s.io/v1 Event (`ValidateEventCreate` for that group): eventTime, reportingController,
 * reportingInstance, action and reason are required; an event about a cluster-scoped object (`regarding`
 * without a namespace) lives in "default" or "kube-system", one about a namespaced object in its namespace.
 */
export function validateEventsV1Event(obj: unknown): Validated<unknown> {
  const ev = obj as JsonObject & { metadata: { namespace?: string } };
  decodeMicroTime(ev.eventTime, "eventTime");
  const errors: FieldError[] = [];
  if (!ev.eventTime) errors.push({ field: "eventTime", message: "Required value" });
  const regarding = isObject(ev.regarding) ? ev.regarding : {};
  const regardingNs = typeof regarding.namespace === "string" ? regarding.namespace : "";
  const ns = ev.metadata.namespace ?? "";
  if (regardingNs === "" ? ns !== "default" && ns !== "kube-system" : ns !== regardingNs) {
    errors.push({
      field: "regarding.namespace",
      message: `Invalid value: ${JSON.stringify(regardingNs)}: does not match event.namespace`,
    });
  }
  for (const f of ["reportingController", "reportingInstance", "action", "reason"]) {
    const v = ev[f];
    if (typeof v !== "string" || v === "") errors.push({ field: f, message: "Required value" });
    else if (v.length > 128) errors.push({ field: f, message: "Too long: may not be more than 128 bytes" });
  }
  if (typeof ev.note === "string" && Buffer.byteLength(ev.note) > 1024)
    errors.push({ field: "note", message: "Too long: may not be more than 1024 bytes" });
  return result(obj, errors);
}

/** core/v1 Secret (`ValidateSecret`): keys are config keys, and the decoded data is at most 1 MiB in total. */
export function validateSecret(obj: unknown): Validated<unknown> {
  const secret = obj as JsonObject;
  const errors: FieldError[] = [];
  let total = 0;
  const data = isObject(secret.data) ? secret.data : {};
  for (const [key, value] of Object.entries(data)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(key) || key.length > 253)
      errors.push({
        field: `data[${key}]`,
        message: `Invalid value: ${JSON.stringify(key)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'`,
      });
    if (typeof value !== "string") {
      throw failure(
        400,
        "BadRequest",
        `the body of the request could not be decoded: data[${key}]: not base64`,
      );
    }
    total += Buffer.from(value, "base64").length;
  }
  for (const value of Object.values(isObject(secret.stringData) ? secret.stringData : {}))
    if (typeof value === "string") total += Buffer.byteLength(value);
  if (total > MAX_SECRET_BYTES)
    errors.push({ field: "data", message: `Too long: must have at most ${MAX_SECRET_BYTES} bytes` });
  return result(obj, errors);
}

/** coordination.k8s.io/v1 Lease (`ValidateLeaseSpec`): a positive duration, non-negative transitions, MicroTimes. */
export function validateLease(obj: unknown): Validated<unknown> {
  const spec = isObject((obj as JsonObject).spec) ? ((obj as JsonObject).spec as JsonObject) : {};
  decodeMicroTime(spec.acquireTime, "spec.acquireTime");
  decodeMicroTime(spec.renewTime, "spec.renewTime");
  const errors: FieldError[] = [];
  const duration = spec.leaseDurationSeconds;
  if (
    duration !== undefined &&
    duration !== null &&
    (!Number.isInteger(duration) || (duration as number) <= 0)
  )
    errors.push({
      field: "spec.leaseDurationSeconds",
      message: `Invalid value: ${JSON.stringify(duration)}: must be greater than 0`,
    });
  const transitions = spec.leaseTransitions;
  if (
    transitions !== undefined &&
    transitions !== null &&
    (!Number.isInteger(transitions) || (transitions as number) < 0)
  )
    errors.push({
      field: "spec.leaseTransitions",
      message: `Invalid value: ${JSON.stringify(transitions)}: must be greater than or equal to 0`,
    });
  return result(obj, errors);
}
