import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { VesSink } from "../../api/v1alpha1/types.ts";
import type { TransportSecurity } from "./http-transport.ts";

/** Default directory of the credentials the operator mounts (its managed Secret). */
export const DEFAULT_CREDENTIALS_DIR = "/etc/vesmon/credentials";

async function secretFile(dir: string, name: string, key: string): Promise<Buffer> {
  const path = join(dir, name, key);
  try {
    return await readFile(path);
  } catch (err) {
    // The operator's managed Secret, mounted as a volume, holds every referenced key as `<secret>__<key>`.
    const flat = await readFile(join(dir, `${name}__${key}`)).catch(() => undefined);
    if (flat) return flat;
    // Name the file, never its content.
    throw new Error(
      `credentials file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/**
 * Reads the basic-auth and TLS material a VES sink references from `<dir>/<secret>/<key>` (standalone: any
 * directory laid out so) or `<dir>/<secret>__<key>` (the operator's managed Secret mounted as a volume).
 */
export async function loadTransportSecurity(
  spec: VesSink,
  dir = DEFAULT_CREDENTIALS_DIR,
): Promise<TransportSecurity> {
  const out: TransportSecurity = {};
  const creds = spec.credentialsSecretRef;
  if (creds) {
    const username = (await secretFile(dir, creds.name, creds.usernameKey)).toString("utf8").trim();
    const password = (await secretFile(dir, creds.name, creds.passwordKey))
      .toString("utf8")
      .replace(/\r?\n$/, "");
    out.basicAuth = { username, password };
  }
  const tls = spec.tls;
  if (tls) {
    if (tls.insecureSkipVerify) out.insecureSkipVerify = true;
    if (tls.caSecretRef) out.ca = await secretFile(dir, tls.caSecretRef.name, tls.caSecretRef.key);
    if (tls.clientCertificateSecretRef) {
      const ref = tls.clientCertificateSecretRef;
      out.cert = await secretFile(dir, ref.name, ref.certKey);
      out.key = await secretFile(dir, ref.name, ref.keyKey);
    }
  }
  return out;
}
