/** Which of the spec's two exception kinds an error body carries. */
export type ExceptionKind = "serviceException" | "policyException";

/** The VES error body: `{"requestError":{"serviceException"|"policyException":{messageId,text,variables}}}`. */
export interface RequestErrorBody {
  requestError: {
    serviceException?: ExceptionBody;
    policyException?: ExceptionBody;
  };
}

/** One exception: `text` refers to `variables` as `%1…%n`. */
export interface ExceptionBody {
  messageId: string;
  text: string;
  variables: string[];
}

/** An error answer: the status code and the body to send with it. */
export interface VesError {
  status: number;
  body: RequestErrorBody;
}

// A body naming hundreds of schema errors helps no one; the first ones name the problem.
const MAX_VARIABLES = 20;

/** Builds an error answer. Variables past the twentieth are summarised in a last one. */
export function vesError(
  status: number,
  kind: ExceptionKind,
  messageId: string,
  text: string,
  variables: readonly string[] = [],
): VesError {
  const vars =
    variables.length > MAX_VARIABLES
      ? [...variables.slice(0, MAX_VARIABLES), `… and ${variables.length - MAX_VARIABLES} more`]
      : [...variables];
  return { status, body: { requestError: { [kind]: { messageId, text, variables: vars } } } };
}

/** `%1, %2, … %n`, for texts that list every variable. */
export function placeholders(count: number): string {
  return Array.from({ length: Math.min(count, MAX_VARIABLES + 1) }, (_, i) => `%${i + 1}`).join(", ");
}

/** 400 SVC0002: the body is not JSON, or not the JSON the spec asks for. */
export function badParameter(reason: string, variables: readonly string[]): VesError {
  return vesError(
    400,
    "serviceException",
    "SVC0002",
    `Bad Parameter (${reason}): ${placeholders(variables.length)}`,
    variables,
  );
}

/** 413 POL9003: the body is larger than the limit. */
export function tooLarge(limit: number): VesError {
  return vesError(413, "policyException", "POL9003", "Message size exceeds the limit of %1 bytes", [
    String(limit),
  ]);
}

/** 401 POL2000: the request carries no credentials, or the wrong ones. `reason` never includes what was sent. */
export function unauthorized(reason: string): VesError {
  return vesError(401, "policyException", "POL2000", "Unauthorized user: %1", [reason]);
}

/** SVC1000 with the given status: the injected "no server resources" answer (5xx, or 429 when throttling). */
export function noResources(status: number, reason: string): VesError {
  return vesError(status, "serviceException", "SVC1000", "No server resources: %1", [reason]);
}
