/** Go-style duration string: one or more `<number><unit>` parts, units ms, s, m, h (e.g. `10s`, `1m30s`, `500ms`). */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const WHOLE = new RegExp(DURATION_PATTERN);

/** Parses a Go-style duration into milliseconds; throws a RangeError naming the input when it is not one. */
export function parseDuration(text: string): number {
  if (!WHOLE.test(text))
    throw new RangeError(`invalid duration "${text}": expected e.g. "10s", "1m30s", "500ms"`);
  let ms = 0;
  for (const [, value, unit] of text.matchAll(PART)) ms += Number(value) * UNIT_MS[unit as string]!;
  return Math.round(ms);
}

/** Formats milliseconds as the shortest Go-style duration (`90000` -> `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const unit of ["h", "m", "s", "ms"] as const) {
    const size = UNIT_MS[unit]!;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
