import { Reason } from "../api/v1alpha1/conditions.ts";
import { METRICS_BY_NAME } from "../api/v1alpha1/metrics.ts";
import type { MonitoringProfile, VesSink } from "../api/v1alpha1/types.ts";
import { CREDENTIALS_LABEL, credentialsKey, MAX_SECRET_KEY_LENGTH } from "./credentials.ts";
import { OperatorReason } from "./reasons.ts";

/** What the check may know about Secrets in the operator's namespace. */
export interface ProfileCheckContext {
  /** Whether the Secret exists. */
  secretExists: (name: string) => boolean;
  /** The Secret's keys, or undefined when not known (keys are then not checked). */
  secretKeys?: (name: string) => string[] | undefined;
  /** Whether the Secret carries the opt-in label; unchecked when absent. */
  secretLabelled?: (name: string) => boolean;
  /** The managed credentials Secret, which no profile may name as a source. */
  managedSecret?: string;
}

/**
 * Outcome of the checks beyond the CRD. Refusal carries the reason of the first problem and a message
 * naming every problem by field path; warnings never refuse the profile.
 */
export type ProfileCheck =
  | { ok: true; warnings: string[] }
  | { ok: false; reason: string; message: string; warnings: string[] };

interface Problem {
  reason: string;
  message: string;
}

// Condition messages stay readable and well below the 32 KiB limit.
const MAX_PROBLEMS_LISTED = 10;

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** The known metric names closest to `name` (edit distance, then name), at most `n`. */
export function closeMetricNames(name: string, n = 3): string[] {
  return [...METRICS_BY_NAME.keys()]
    .map((m) => ({ m, d: levenshtein(name, m) }))
    .sort((x, y) => x.d - y.d || (x.m < y.m ? -1 : x.m > y.m ? 1 : 0))
    .slice(0, n)
    .map((x) => x.m);
}

function checkSecretKeys(
  field: string,
  secret: string,
  keys: [keyField: string, key: string][],
  ctx: ProfileCheckContext,
  problems: Problem[],
): void {
  if (secret === ctx.managedSecret) {
    problems.push({
      reason: OperatorReason.SecretNotAllowed,
      message: `${field}.name: Secret "${secret}" is the managed credentials Secret the operator writes; it cannot be a source`,
    });
    return;
  }
  if (!ctx.secretExists(secret)) {
    problems.push({
      reason: Reason.SecretMissing,
      message: `${field}.name: Secret "${secret}" not found in the operator's namespace`,
    });
    return;
  }
  if (ctx.secretLabelled && !ctx.secretLabelled(secret)) {
    problems.push({
      reason: OperatorReason.SecretNotLabelled,
      message: `${field}.name: Secret "${secret}" does not carry the label ${CREDENTIALS_LABEL}: "true"; only Secrets with it are copied to the agents`,
    });
    return;
  }
  const present = ctx.secretKeys?.(secret);
  for (const [keyField, key] of keys) {
    if (present && !present.includes(key)) {
      problems.push({
        reason: OperatorReason.SecretKeyMissing,
        message: `${field}.${keyField}: Secret "${secret}" has no key "${key}"`,
      });
    } else if (credentialsKey(secret, key).length > MAX_SECRET_KEY_LENGTH) {
      problems.push({
        reason: OperatorReason.CredentialsKeyTooLong,
        message: `${field}.${keyField}: "${credentialsKey(secret, key)}", the key in the managed credentials Secret, is longer than ${MAX_SECRET_KEY_LENGTH} characters`,
      });
    }
  }
}

function checkVesSink(
  at: string,
  ves: VesSink,
  ctx: ProfileCheckContext,
  problems: Problem[],
  warnings: string[],
) {
  const creds = ves.credentialsSecretRef;
  if (creds) {
    checkSecretKeys(
      `${at}.credentialsSecretRef`,
      creds.name,
      [
        ["usernameKey", creds.usernameKey],
        ["passwordKey", creds.passwordKey],
      ],
      ctx,
      problems,
    );
    for (const [field, url] of [
      ["url", ves.url],
      ["backupUrl", ves.backupUrl],
    ] as const) {
      if (url?.toLowerCase().startsWith("http://")) {
        warnings.push(`${at}.${field}: basic-auth credentials are sent in clear text over http://`);
      }
    }
  }
  const tls = ves.tls;
  if (tls?.caSecretRef) {
    checkSecretKeys(
      `${at}.tls.caSecretRef`,
      tls.caSecretRef.name,
      [["key", tls.caSecretRef.key]],
      ctx,
      problems,
    );
  }
  if (tls?.clientCertificateSecretRef) {
    const ref = tls.clientCertificateSecretRef;
    checkSecretKeys(
      `${at}.tls.clientCertificateSecretRef`,
      ref.name,
      [
        ["certKey", ref.certKey],
        ["keyKey", ref.keyKey],
      ],
      ctx,
      problems,
    );
  }
  if (tls?.insecureSkipVerify) {
    warnings.push(`${at}.tls.insecureSkipVerify: the collector's certificate is not verified`);
  }
}

/**
 * The operator's checks on a profile beyond what the CRD enforces (the `Accepted` condition): every
 * referenced Secret exists, is not the managed one (`SecretNotAllowed`), carries the opt-in label
 * (`SecretNotLabelled`) and, when its keys are known, holds the referenced keys (`SecretMissing`,
 * `SecretKeyMissing`); every threshold names a metric of the catalogue (`UnknownMetric`, suggesting close
 * names). Usable but risky sink settings (basic auth over http://, TLS verification off) are warnings.
 * The profile is expected to have passed the CRD validator (defaults applied).
 */
export function checkProfile(profile: MonitoringProfile, ctx: ProfileCheckContext): ProfileCheck {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  (profile.spec.thresholds ?? []).forEach((t, i) => {
    if (METRICS_BY_NAME.has(t.metric)) return;
    problems.push({
      reason: OperatorReason.UnknownMetric,
      message: `spec.thresholds[${i}].metric: unknown metric "${t.metric}" (close names: ${closeMetricNames(t.metric).join(", ")})`,
    });
  });
  (profile.spec.sinks ?? []).forEach((sink, i) => {
    if (sink.ves) checkVesSink(`spec.sinks[${i}].ves`, sink.ves, ctx, problems, warnings);
  });
  const first = problems[0];
  if (!first) return { ok: true, warnings };
  const listed = problems.slice(0, MAX_PROBLEMS_LISTED).map((p) => p.message);
  if (problems.length > MAX_PROBLEMS_LISTED)
    listed.push(`…and ${problems.length - MAX_PROBLEMS_LISTED} more`);
  return { ok: false, reason: first.reason, message: listed.join("; "), warnings };
}
