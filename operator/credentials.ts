/**
 * The managed credentials Secret: one Secret in the operator's namespace holding every Secret the profiles
 * reference, mounted (whole, without `items`) into the agent pods by the static chart.
 *
 * Layout. A Secret volume is flat, so the operator cannot produce the `<dir>/<secretName>/<key>` tree
 * the agent reads today without `items` in the DaemonSet, and the chart cannot know the names. The
 * operator therefore writes one key per referenced Secret key, `<secretName>__<key>`, which the kubelet
 * projects as the file `<dir>/<secretName>__<key>`. The agent's credentials loader reads that file when
 * `<dir>/<secretName>/<key>` does not exist (standalone mode keeps the directory layout).
 *
 * Why `__`: Secret names are DNS subdomains (`[a-z0-9.-]`, never `_`), while Secret keys may hold `_`,
 * `-` and `.`. Splitting at the first `_` is therefore unambiguous, so two different (Secret, key) pairs
 * can never collide. A `--` or `.` separator could: Secret `a--b` key `c` and Secret `a` key `b--c` both
 * give `a--b--c`.
 *
 * Every key of each referenced Secret is copied (the agent reads only the keys its sinks name). A
 * referenced Secret that does not exist yet is left out; the profile check reports it (`SecretMissing`).
 */

import type { MonitoringProfile } from "../api/v1alpha1/types.ts";
import { contentHash, MANAGED_BY, MANAGED_BY_LABEL } from "./render.ts";

/** Separator between the Secret name and the key in the managed Secret's keys. */
export const CREDENTIALS_KEY_SEPARATOR = "__";
/** Annotation on the managed Secret: `sha256:<hex>` over its data, so an unchanged Secret is not rewritten. */
export const CREDENTIALS_HASH_ANNOTATION = "vesmon.io/credentials-hash";
/** Longest key a Secret may hold (a DNS subdomain's length). */
export const MAX_SECRET_KEY_LENGTH = 253;

/** The managed credentials Secret as applied (core/v1 Secret, the fields the operator sets). */
export interface CredentialsSecret {
  apiVersion: "v1";
  kind: "Secret";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  type: "Opaque";
  /** Base64 values, as in a Secret's `data`. */
  data: Record<string, string>;
}

/** A source Secret's data (base64 values), as read from the API. */
export interface SecretSource {
  data?: Record<string, string>;
}

/** The key (and file name) under which the managed Secret holds `key` of Secret `secretName`. */
export function credentialsKey(secretName: string, key: string): string {
  return `${secretName}${CREDENTIALS_KEY_SEPARATOR}${key}`;
}

/** Names of every Secret the profiles' VES sinks reference (basic auth, CA, client certificate). */
export function referencedSecrets(profiles: readonly MonitoringProfile[]): Set<string> {
  const out = new Set<string>();
  for (const p of profiles) {
    for (const sink of p.spec.sinks ?? []) {
      const ves = sink.ves;
      if (!ves) continue;
      if (ves.credentialsSecretRef) out.add(ves.credentialsSecretRef.name);
      if (ves.tls?.caSecretRef) out.add(ves.tls.caSecretRef.name);
      if (ves.tls?.clientCertificateSecretRef) out.add(ves.tls.clientCertificateSecretRef.name);
    }
  }
  return out;
}

/**
 * Renders the managed Secret from the referenced source Secrets: keys `<secretName>__<key>` in sorted
 * order, only Secrets in `referenced` (a Secret no profile names any more drops out), and the content hash
 * annotation. Keys longer than a Secret allows are left out; the profile check refuses such references.
 */
export function renderCredentialsSecret(
  namespace: string,
  name: string,
  sources: ReadonlyMap<string, SecretSource>,
  referenced: ReadonlySet<string>,
): CredentialsSecret {
  const entries: [string, string][] = [];
  for (const secretName of referenced) {
    const source = sources.get(secretName);
    for (const [key, value] of Object.entries(source?.data ?? {})) {
      const flat = credentialsKey(secretName, key);
      if (flat.length <= MAX_SECRET_KEY_LENGTH) entries.push([flat, value]);
    }
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const data = Object.fromEntries(entries);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
      annotations: { [CREDENTIALS_HASH_ANNOTATION]: contentHash(data) },
    },
    type: "Opaque",
    data,
  };
}
