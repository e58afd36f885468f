/** The VES versions the listener serves: `/eventListener/v7` is 7.2.1, `/eventListener/v5` is 5.4.1. */
export type ListenerVersion = "7.2.1" | "5.4.1";

/** Which route a body came to: `event` for `{"event":…}`, `batch` for `{"eventList":[…]}`. */
export type BodyKind = "event" | "batch";

/**
 * Checks a parsed request body. Returns one string per problem, each naming the field
 * (`event.commonEventHeader.sequence: must be integer`); an empty list means valid.
 */
export type EventValidator = (body: unknown, kind: BodyKind, version: ListenerVersion) => string[];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkEvent(event: unknown, at: string): string[] {
  if (!isObject(event)) return [`${at}: must be an object`];
  if (!isObject(event.commonEventHeader)) return [`${at}.commonEventHeader: missing required object`];
  return [];
}

/** The domains of a batch's events, in order of first appearance; events without a domain are skipped. */
export function batchDomains(eventList: readonly unknown[]): unknown[] {
  const domains = new Set<unknown>();
  for (const e of eventList)
    if (isObject(e) && isObject(e.commonEventHeader) && "domain" in e.commonEventHeader)
      domains.add(e.commonEventHeader.domain);
  return [...domains];
}

/**
 * The validator used when no schema validator is given: it checks only the envelope the collector insists on
 * (`{"event":{"commonEventHeader":{…}}}` or a non-empty `{"eventList":[…]}` of such events, all of one domain).
 */
export const checkEnvelope: EventValidator = (body, kind) => {
  if (!isObject(body)) return ["(root): must be an object"];
  const key = kind === "event" ? "event" : "eventList";
  const extra = Object.keys(body).filter((k) => k !== key);
  const errors = extra.map((k) => `(root): unknown field ${JSON.stringify(k)}`);
  if (!(key in body)) return [...errors, `(root): missing required field "${key}"`];
  if (kind === "event") return [...errors, ...checkEvent(body.event, "event")];
  const list = body.eventList;
  if (!Array.isArray(list)) return [...errors, "eventList: must be an array"];
  if (list.length === 0) return [...errors, "eventList: must not be empty"];
  list.forEach((e, i) => {
    errors.push(...checkEvent(e, `eventList[${i}]`));
  });
  const domains = batchDomains(list);
  if (domains.length > 1) errors.push(`eventList: events of one domain only, got ${JSON.stringify(domains)}`);
  return errors;
};
