import type { IncomingMessage } from "node:http";
import type { WatchEventHandler } from "./api.ts";

/** A watch event line longer than this ends the watch: the API server's objects are at most a few MiB. */
export const MAX_WATCH_LINE = 64 * 1024 * 1024;

/**
 * Reads a watch's newline-delimited JSON events as they arrive, lines split across chunks included, and hands
 * each `{type, object}` on until `ended()` says the watch is over (an ERROR event's handler may end it). A
 * line that is not JSON is skipped, as client-node's Watch does. `end` gets `null` when the server ends the
 * stream cleanly, an error when the connection breaks or a handler throws.
 */
export function parseWatchStream(
  res: IncomingMessage,
  ended: () => boolean,
  onEvent: WatchEventHandler,
  end: (err: unknown) => void,
): void {
  let buffered = "";
  const dispatch = (line: string) => {
    if (!line.trim()) return;
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof event?.type !== "string") return;
    try {
      onEvent(event.type, event.object);
    } catch (err) {
      end(err);
    }
  };
  // Decodes UTF-8 across chunk boundaries.
  res.setEncoding("utf8");
  res.on("data", (chunk: string) => {
    buffered += chunk;
    let start = 0;
    for (let nl = buffered.indexOf("\n"); nl >= 0 && !ended(); nl = buffered.indexOf("\n", start)) {
      const line = buffered.slice(start, nl);
      start = nl + 1;
      dispatch(line);
    }
    buffered = buffered.slice(start);
    if (buffered.length > MAX_WATCH_LINE)
      end(new Error(`a watch event is longer than ${MAX_WATCH_LINE} bytes`));
  });
  res.on("end", () => {
    if (!ended()) dispatch(buffered);
    end(null);
  });
  res.on("error", end);
  // A connection cut mid-stream closes the response without an end.
  res.on("close", () => {
    if (!res.complete) end(new Error("the watch connection closed mid-stream"));
  });
}
