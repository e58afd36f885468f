/** Outcome of one delivery attempt: delivered, worth retrying (with the server's wish, if any), or refused for good. */
export type SendResult =
  | { status: "success"; httpStatus: number }
  | { status: "retryable"; error: string; httpStatus?: number; retryAfterMs?: number }
  | { status: "failure"; error: string; httpStatus: number };

/** HTTP statuses worth retrying: the collector is overloaded, down or timed out. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Parses Retry-After as delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A short, stable reason for a failed attempt, for logs: `http_503`, `timeout`, `tls` or `connection`. */
export function failureReason(result: Exclude<SendResult, { status: "success" }>): string {
  if (result.httpStatus !== undefined) return `http_${result.httpStatus}`;
  if (/ within \d+ ms$/.test(result.error)) return "timeout";
  if (/\b(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_VERIFY|DEPTH_ZERO|SELF_SIGNED)/.test(result.error)) return "tls";
  return "connection";
}
