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
  /** A referenced Secret lacks the `vesmon.io/credentials: "true"` label, so it is not copied to the agents. */
  SecretNotLabelled: "SecretNotLabelled",
  /** A profile references the managed credentials Secret itself. */
  SecretNotAllowed: "SecretNotAllowed",
  /** The profile's Secrets would push the managed credentials Secret over 1 MiB. */
  CredentialsTooLarge: "CredentialsTooLarge",
  /** The managed credentials Secret could not be written, and this profile's credentials are not in it yet. */
  CredentialsNotWritten: "CredentialsNotWritten",
} as const;
