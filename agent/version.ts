import { readFileSync } from "node:fs";

/** The package version, read from package.json next to the sources (or next to dist/ in a build). */
export function agentVersion(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { version: string }).version;
    } catch {
      // Not here: try the next place.
    }
  }
  return "unknown";
}
