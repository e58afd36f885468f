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
 * Which Secrets. Only Secrets labelled `vesmon.io/credentials: "true"` are copied, and never the managed
 * Secret itself: the operator can read every Secret of its namespace (Helm release Secrets, other apps'
 * tokens), and whoever may create a MonitoringProfile must not be able to ship those to every node and send
 * them to a URL of their choosing. Labelling a Secret is the namespace owner's consent. A referenced Secret
 * that is missing or unlabelled is left out; the profile check refuses the profile (`SecretMissing`,
 * `SecretNotLabelled`, `SecretNotAllowed`).
 *
 * How much. kube-apiserver refuses a Secret over 1 MiB of data. `fitCredentials` admits profiles, oldest
 * first, while the managed Secret stays within that; a profile that would overflow it is refused
 * (`CredentialsTooLarge`) on its own, so one large Secret never stops the other profiles.
 *
 * Every key of each copied Secret is copied (the agent reads only the keys its sinks name).
 */

import type { MonitoringProfile } from "../api/v1alpha1/types.ts";
import { OperatorReason } from "./reasons.ts";
import { contentHash, MANAGED_BY, MANAGED_BY_LABEL } from "./render.ts";

/** The opt-in label: only Secrets carrying it with the value "true" are copied to the agents. */
export const CREDENTIALS_LABEL = "vesmon.io/credentials";
/** The largest Secret kube-apiserver accepts: the sum of its decoded values (`MaxSecretSize`). */
export const MAX_SECRET_BYTES = 1024 * 1024;

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

/** Whether a Secret's labels opt it in to being copied to the agents. */
export function isCredentialsSource(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[CREDENTIALS_LABEL] === "true";
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

/** Decoded bytes of a Secret's data, as kube-apiserver counts them against its limit. */
export function secretDataBytes(data: Readonly<Record<string, string>>): number {
  let total = 0;
  for (const v of Object.values(data)) total += Buffer.from(v, "base64").length;
  return total;
}

/** A profile refused because its credentials do not fit. */
export interface CredentialsRefusal {
  reason: string;
  message: string;
}

/**
 * Admits profiles, oldest first (then by name), while the Secrets they reference fit in one Secret of at
 * most `limitBytes`; the others are refused with `CredentialsTooLarge`. Sources absent from `sources` count
 * as empty (the profile check refuses such profiles anyway).
 */
export function fitCredentials(
  profiles: readonly MonitoringProfile[],
  sources: ReadonlyMap<string, SecretSource>,
  managedName: string,
  limitBytes = MAX_SECRET_BYTES,
): { admitted: MonitoringProfile[]; refused: Map<string, CredentialsRefusal> } {
  const order = [...profiles].sort(
    (a, b) =>
      String(a.metadata.creationTimestamp ?? "").localeCompare(String(b.metadata.creationTimestamp ?? "")) ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  const included = new Set<string>();
  let total = 0;
  const admitted: MonitoringProfile[] = [];
  const refused = new Map<string, CredentialsRefusal>();
  for (const p of order) {
    const added = [...referencedSecrets([p])].filter((s) => !included.has(s));
    let extra = 0;
    for (const name of added) extra += secretDataBytes(sources.get(name)?.data ?? {});
    if (total + extra > limitBytes) {
      refused.set(p.metadata.name, {
        reason: OperatorReason.CredentialsTooLarge,
        message: `the Secrets ${added.map((s) => `"${s}"`).join(", ")} would make the managed credentials Secret "${managedName}" ${total + extra} bytes, over kube-apiserver's limit of ${limitBytes} bytes`,
      });
      continue;
    }
    total += extra;
    for (const s of added) included.add(s);
    admitted.push(p);
  }
  return { admitted, refused };
}
