import type { LabelSelector, LabelSelectorRequirement } from "../api/v1alpha1/types.ts";

function meets(req: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  switch (req.operator) {
    case "In":
      return has && (req.values ?? []).includes(labels[req.key] as string);
    case "NotIn":
      // As in apimachinery: an absent key is "not in" any set.
      return !has || !(req.values ?? []).includes(labels[req.key] as string);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
  }
}

/**
 * Whether labels satisfy a selector, with metav1.LabelSelector semantics: every matchLabels pair AND every
 * matchExpressions requirement. An absent or empty selector matches everything (a profile without a
 * nodeSelector selects every node).
 */
export function matchesSelector(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((req) => meets(req, labels));
}
