import { createHash, timingSafeEqual } from "node:crypto";

/** Credentials a listener asks for. */
export interface BasicCredentials {
  username: string;
  password: string;
}

/** Outcome of a check: the reason is safe to log and to send back; it never includes what the client sent. */
export type AuthCheck = { ok: true } | { ok: false; reason: string };

// Hashing first gives equal-length inputs, so the comparison takes the same time whatever was sent.
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** Checks an `Authorization` header value against the expected Basic credentials. */
export function checkBasicAuth(header: string | undefined, expected: BasicCredentials): AuthCheck {
  if (header === undefined || header === "") return { ok: false, reason: "Authorization header missing" };
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m?.[1]) return { ok: false, reason: "Authorization is not Basic" };
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return { ok: false, reason: "malformed Basic credentials" };
  const userOk = sameSecret(decoded.slice(0, colon), expected.username);
  const passOk = sameSecret(decoded.slice(colon + 1), expected.password);
  return userOk && passOk ? { ok: true } : { ok: false, reason: "invalid credentials" };
}

/** The `Authorization` header value for the given credentials, for clients and tests. */
export function basicAuthHeader(creds: BasicCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, "utf8").toString("base64")}`;
}
