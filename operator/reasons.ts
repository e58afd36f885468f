/**
 * Reasons the operator sets beyond the shared ones in api/v1alpha1/conditions.ts (`Reason`). CamelCase
 * causes, as metav1.Condition requires.
 */
export const OperatorReason = {
  /** A Secret the profile references exists but lacks the referenced key. */
  SecretKeyMissing: "SecretKeyMissing",
  /** A threshold names a metric no collector emits. */
  UnknownMetric: "UnknownMetric",
  /** A Secret name and key are too long to be flattened into one key of the managed credentials Secret. */
  CredentialsKeyTooLong: "CredentialsKeyTooLong",
} as const;
