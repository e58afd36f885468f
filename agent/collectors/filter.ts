import type { NameFilter } from "../../api/v1alpha1/types.ts";

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replaceAll("*", ".*")
    .replaceAll("?", ".");
  return new RegExp(`^${body}$`);
}

/** Builds a predicate from include/exclude globs: included when it matches an include (all if none) and no exclude. */
export function nameFilter(
  filter: NameFilter | undefined,
  defaultExclude: readonly string[] = [],
): (name: string) => boolean {
  const include = (filter?.include ?? []).map(globToRegExp);
  const exclude = (filter?.exclude ?? (filter?.include ? [] : defaultExclude)).map(globToRegExp);
  return (name) =>
    (include.length === 0 || include.some((r) => r.test(name))) && !exclude.some((r) => r.test(name));
}
