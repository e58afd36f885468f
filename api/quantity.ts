/** A byte size written as a Kubernetes quantity: an integer or a decimal with a binary (Ki..Ti) or decimal (k..T) suffix. */
export const QUANTITY_PATTERN = "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$";

const FACTOR: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};
const WHOLE = new RegExp(QUANTITY_PATTERN);

/**
 * Parses a byte quantity (`64Mi`, `1G`, `1048576` or a plain number) into bytes.
 * Throws a RangeError naming the input when it is not a quantity or is not a whole number of bytes,
 * which is also when Kubernetes' `quantity(x).asInteger()` fails.
 */
export function parseQuantity(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`invalid byte size ${value}`);
    return value;
  }
  if (!WHOLE.test(value))
    throw new RangeError(`invalid quantity "${value}": expected e.g. "64Mi", "1G", "4096"`);
  const suffix = /[A-Za-z]+$/.exec(value)?.[0] ?? "";
  const bytes = Number(value.slice(0, value.length - suffix.length)) * FACTOR[suffix]!;
  if (!Number.isSafeInteger(bytes))
    throw new RangeError(`quantity "${value}" is not a whole number of bytes`);
  return bytes;
}
