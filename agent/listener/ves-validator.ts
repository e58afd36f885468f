import { validateVesEvent } from "../ves/schema.ts";
import { checkEnvelope, type EventValidator, type ListenerVersion } from "./envelope.ts";

/** Validates one event (the value of `event`) against a version's schema. */
export type SingleEventValidator = (
  event: unknown,
  version: ListenerVersion,
) => { ok: true } | { ok: false; errors: string[] };

/**
 * A validator that checks the envelope (checkEnvelope: keys, a non-empty eventList of one domain), then each
 * event against the official schema of the route's version. Errors of a batch's events name their index
 * (`eventList[2].commonEventHeader.sequence: …`).
 */
export function schemaValidator(validateEvent: SingleEventValidator = validateVesEvent): EventValidator {
  return (body, kind, version) => {
    const envelope = checkEnvelope(body, kind, version);
    if (envelope.length) return envelope;
    const { event, eventList } = body as { event?: unknown; eventList?: unknown[] };
    const events = kind === "event" ? [event] : (eventList ?? []);
    return events.flatMap((e, i) => {
      const result = validateEvent(e, version);
      if (result.ok) return [];
      return kind === "event"
        ? result.errors
        : result.errors.map((msg) => msg.replace(/^event(?=[.[:]|$)/, `eventList[${i}]`));
    });
  };
}
