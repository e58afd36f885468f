import { counterIncrease, labelKey, type Series, summary } from "./aggregate.ts";
import type { NamedHashMap } from "./types.ts";

/** A hashMap value: hashMap values must be strings in VES 7; six decimals are plenty for an averaged figure. */
export function formatValue(n: number): string {
  return String(Number.isInteger(n) ? n : Math.round(n * 1e6) / 1e6);
}

/** `read.busy` → `readBusy`: hashMap keys are camelCase. */
export function camelKey(parts: readonly string[]): string {
  const words = parts.flatMap((p) => p.split(/[^A-Za-z0-9]+/)).filter(Boolean);
  return words.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join("");
}

/** A figure to add to a group that a field builder knows about but that has no series of its own. */
export interface ExtraFigure {
  name: string;
  labels?: Readonly<Record<string, string>>;
  key: string;
  value: string;
}

/**
 * additionalMeasurements from the series no VES field took. Series are grouped by family and labels: the family is
 * the metric's second part for host and VM metrics (`vm.disk.capacity` → `disk`) and its first otherwise
 * (`cgroup.memory.usage` → `cgroup`). Each group's hashMap holds its labels (`disk`, `path`, …) and one key per
 * figure (`capacity`, `memoryUsage`; a `state` label goes into the key, `guestNicePercent`): the average of a rate, the last value of a gauge, and for a counter the last
 * value plus `…Delta`. `vm.info` carries the domain's metadata labels alone.
 */
export function additionalMeasurements(
  rest: readonly Series[],
  extras: readonly ExtraFigure[] = [],
): NamedHashMap[] {
  const groups = new Map<string, NamedHashMap>();
  const group = (name: string, labels: Readonly<Record<string, string>>): HashMapRef => {
    const key = `${name}\0${labelKey(labels)}`;
    let g = groups.get(key);
    if (!g) {
      g = { name, hashMap: { ...labels } };
      groups.set(key, g);
    }
    return g.hashMap;
  };
  for (const s of rest) {
    // A per-state share (host.cpu.percent{state=guest}) becomes a key of its instance's group: `guestPercent`.
    const state = s.labels.state;
    const byState = state !== undefined && s.metric !== "vm.state";
    const figure = figureOf(s.metric, byState ? state : undefined);
    const map = group(figure.name, byState ? withoutState(s.labels) : s.labels);
    if (s.metric === "vm.info") continue;
    const key = figure.key;
    map[key] = formatValue(summary(s));
    if (s.kind === "counter") map[`${key}Delta`] = formatValue(counterIncrease(s).delta);
    if (s.suspect) map.valuesAreSuspect = "true";
  }
  for (const e of extras) group(e.name, e.labels ?? {})[e.key] = e.value;
  return [...groups.values()];
}

type HashMapRef = Record<string, string>;

/** A metric's group name and hashMap key (for one state), worked out once: each window asks for the same ones. */
interface Figure {
  name: string;
  key: string;
}

const figures = new Map<string, Figure>();
const FIGURES_MAX = 4096;

function figureOf(metric: string, state: string | undefined): Figure {
  const id = state === undefined ? metric : `${metric}\0${state}`;
  let f = figures.get(id);
  if (f) return f;
  const parts = metric.split(".");
  const scoped = parts[0] === "host" || parts[0] === "vm";
  f = {
    name: (scoped ? parts[1] : parts[0]) ?? metric,
    key: camelKey([...(state !== undefined ? [state] : []), ...parts.slice(scoped ? 2 : 1)]) || "value",
  };
  if (figures.size >= FIGURES_MAX) figures.clear();
  figures.set(id, f);
  return f;
}

function withoutState(labels: Readonly<Record<string, string>>): Record<string, string> {
  const { state: _state, ...others } = labels;
  return others;
}
