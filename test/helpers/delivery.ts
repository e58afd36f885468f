import { ListenerProcess, type ListenerProcessOptions } from "../../agent/listener/process.ts";
import { schemaValidator } from "../../agent/listener/ves-validator.ts";
import { eventIds } from "./ves-events.ts";

/** Starts the real vesmon-listener on an ephemeral port, validating every event against the official schema. */
export async function startListener(opts: ListenerProcessOptions = {}): Promise<ListenerProcess> {
  const l = new ListenerProcess({ port: 0, validate: schemaValidator(), ...opts });
  await l.start();
  return l;
}

export { sinkSpec } from "./sink-spec.ts";

/** Every eventId the listener recorded, in arrival order (duplicates included). */
export async function receivedIds(l: ListenerProcess): Promise<string[]> {
  const body = (await (await fetch(`${l.url}/control/events`)).json()) as {
    events: { event: { commonEventHeader: { eventId: string } } }[];
  };
  return eventIds(body.events.map((e) => e.event));
}

/** Polls `check` every 20 ms until it holds; throws with `what` after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
