import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { MonitoringProfile } from "../../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../../api/v1alpha1/validators.ts";
import { formatFieldErrors } from "../../api/validate.ts";

/** A validated profile and where it came from (`file.yaml`, or `file.yaml#2` for the second document). */
export interface LoadedProfile {
  source: string;
  profile: MonitoringProfile;
}

/** Why one document or file was refused; the message names the field. */
export interface ProfileError {
  source: string;
  message: string;
}

/** Profiles read from YAML, and the documents refused. */
export interface ProfileSet {
  profiles: LoadedProfile[];
  errors: ProfileError[];
}

/** Parses and validates every YAML document in `text`; empty documents are skipped. Never throws. */
export function parseProfiles(text: string, source: string): ProfileSet {
  const out: ProfileSet = { profiles: [], errors: [] };
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) return out;
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `${source}#${i + 1}` : source;
    if (doc.errors.length) {
      out.errors.push({ source: where, message: doc.errors.map((e) => e.message).join("\n") });
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const r = validateMonitoringProfile(value);
    if (r.ok) out.profiles.push({ source: where, profile: r.value });
    else out.errors.push({ source: where, message: formatFieldErrors(r.errors) });
  });
  return out;
}

/**
 * Reads a profile file, or every `*.yaml`/`*.yml` file of a directory (not hidden ones, which is how
 * Kubernetes' mounted ConfigMaps keep their `..data` links), in name order. Two profiles with one name are
 * an error for the second. Never throws: an unreadable path is an error in the result.
 */
export async function readProfiles(path: string): Promise<ProfileSet> {
  let files: string[];
  try {
    files = (await stat(path)).isDirectory()
      ? (await readdir(path))
          .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith("."))
          .sort()
          .map((f) => join(path, f))
      : [path];
  } catch (err) {
    return { profiles: [], errors: [{ source: path, message: (err as Error).message }] };
  }
  const out: ProfileSet = { profiles: [], errors: [] };
  const seen = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      out.errors.push({ source: file, message: (err as Error).message });
      continue;
    }
    const set = parseProfiles(text, file);
    out.errors.push(...set.errors);
    for (const p of set.profiles) {
      const name = p.profile.metadata.name;
      const first = seen.get(name);
      if (first)
        out.errors.push({
          source: p.source,
          message: `metadata.name: profile "${name}" is already defined in ${first}`,
        });
      else {
        seen.set(name, p.source);
        out.profiles.push(p);
      }
    }
  }
  return out;
}
